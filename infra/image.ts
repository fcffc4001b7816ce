/**
 * The Hoard image: one image of the code and its dependencies. The gateway, the tracker and the dispatcher
 * run it (infra/kubernetes/), and every OpenFaaS function image is built FROM it (infra/openfaas/).
 */
import { SERVER_PACKAGES } from "../bootstrap/packages.js";
import { GENERATED } from "./yaml.js";

/** Where the image's Dockerfile is, from the repository root (the build context). */
export const IMAGE_DOCKERFILE = "infra/image/Dockerfile";
/** The registry images are pushed to when HOARD_REGISTRY does not say (a local registry, as kind and k3d run). */
export const DEFAULT_REGISTRY = "localhost:5000";

/** An image reference for faas-cli, which substitutes HOARD_REGISTRY and HOARD_TAG from the environment. */
export const image = (name: string, version: string) => `\${HOARD_REGISTRY:-${DEFAULT_REGISTRY}}/${name}:\${HOARD_TAG:-${version}}`;

/** The files under infra/image/, by path relative to infra/. */
export function imageFiles(version: string): Map<string, string> {
  const files = new Map<string, string>();
  files.set(
    "image/Dockerfile",
    [
      "# The Hoard image: the gateway, the tracker and the dispatcher run it (infra/kubernetes/), and every",
      "# OpenFaaS function image is built FROM it (infra/openfaas/template/hoard-node20/). From the repository root:",
      `#   docker build -f ${IMAGE_DOCKERFILE} -t ${DEFAULT_REGISTRY}/hoard:${version} .`,
      `# ${GENERATED("infra/image.ts")}`,
      "FROM node:20-bookworm-slim",
      "",
      // SERVER_PACKAGES: the node's own (NATS, the control plane's Postgres, iproute2, btrfs-progs) and each engine's.
      "# What `hoard start` checks for (bootstrap/packages.ts), so that no container installs it as it starts.",
      "RUN apt-get update \\",
      ` && apt-get install -y --no-install-recommends ${SERVER_PACKAGES.join(" ")} ca-certificates \\`,
      " && rm -rf /var/lib/apt/lists/*",
      "",
      "WORKDIR /home/app",
      "COPY package.json package-lock.json ./",
      "RUN npm ci --omit=dev && npm cache clean --force",
      "COPY . .",
      "",
      "ENV NODE_ENV=production HOARD_HOME=/var/lib/hoard",
      'CMD ["node", "--import", "tsx", "bin/hoard.ts", "start"]',
      "",
    ].join("\n"),
  );
  // BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile.
  files.set("image/Dockerfile.dockerignore", [".git", "node_modules", ".hoard", ".vitest-report.json", "infra/openfaas/build", ""].join("\n"));
  return files;
}
