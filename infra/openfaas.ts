/**
 * OpenFaaS: `openfaas/stack.yml` (one function per registry entry), the environment every function shares,
 * and the `hoard-node20` template — of-watchdog (mode=http) in front of the function host, bin/openfaas-function.ts.
 */
import { cronTicks, functionSubject, workConsumer } from "../events/index.js";
import { RUNTIME_QUEUE, type HoardFunction } from "../runtime/index.js";
import { image, IMAGE_DOCKERFILE } from "./image.js";
import { NAMESPACE } from "./kubernetes.js";
import { GENERATED, yamlFile } from "./yaml.js";

export const TEMPLATE = "hoard-node20";
/** The OpenFaaS secret (a file under /var/openfaas/secrets/) holding DATABASE_URL. */
export const DATABASE_SECRET = "hoard-database-url";
/**
 * The OpenFaaS secret holding the runtime's NATS nkey seed (functions are the runtime): named as the file
 * HOARD_NATS_CREDENTIALS=/var/openfaas/secrets must hold, and made by bin/nats-credentials.ts.
 */
export const NATS_SECRET = "runtime.nk";
const SECRETS_DIR = "/var/openfaas/secrets";
/** The upstream server of-watchdog proxies to; the template runs it. */
export const FUNCTION_ENTRY = "bin/openfaas-function.ts";
const WATCHDOG = "ghcr.io/openfaas/of-watchdog:0.10.1";
const UPSTREAM = "http://127.0.0.1:3000";

const seconds = (ms: number) => `${Math.ceil(ms / 1000)}s`;
/** The cron-connector's finest period is one second (robfig/cron rounds shorter ones up). */
export const cronSchedule = (everyMs: number) => `@every ${Math.max(1, Math.ceil(everyMs / 1000))}s`;

/** How OpenFaaS learns what triggers a function; see the header of stack.yml. */
export function annotations(fn: HoardFunction): Record<string, string> {
  const t = fn.trigger;
  if (t.kind === "request") return { "hoard.dev/trigger": "request", "hoard.nats/subject": functionSubject(fn.name), "hoard.nats/queue": RUNTIME_QUEUE };
  if (t.kind === "work") {
    const consumer = workConsumer(fn.name, t.subject, fn.timeoutMs);
    const tick = cronTicks[t.subject];
    return {
      "hoard.dev/trigger": "work",
      "hoard.nats/stream": t.stream,
      "hoard.nats/subject": t.subject,
      "hoard.nats/consumer": consumer.durable_name!,
      // The cron connector stands in for the local scheduler: its tick is the subject's event.
      ...(tick ? { topic: "cron-function", schedule: cronSchedule(tick.everyMs) } : {}),
    };
  }
  return { "hoard.dev/trigger": "schedule", topic: "cron-function", schedule: cronSchedule(t.everyMs) };
}

function stackFunction(fn: HoardFunction, version: string) {
  // of-watchdog's limits: the handler's budget, and a little more for reading and writing the call.
  const exec = seconds(fn.timeoutMs);
  const io = seconds(fn.timeoutMs + 5_000);
  return {
    lang: TEMPLATE,
    handler: "./function",
    image: image(`hoard-fn-${fn.name}`, version),
    build_args: { HOARD_IMAGE: image("hoard", version) },
    environment: { HOARD_FUNCTION: fn.name, exec_timeout: exec, read_timeout: io, write_timeout: io },
    environment_file: ["hoard-env.yml"],
    secrets: [DATABASE_SECRET, NATS_SECRET],
    limits: { memory: `${fn.memoryMb}Mi` },
    requests: { memory: `${fn.memoryMb}Mi` },
    annotations: annotations(fn),
  };
}

/** The files under infra/openfaas/, by path relative to infra/. */
export function openfaasFiles(fns: HoardFunction[], version: string): Map<string, string> {
  const files = new Map<string, string>();
  files.set(
    "openfaas/stack.yml",
    yamlFile(
      [
        "Hoard's functions on OpenFaaS: one per entry of the function registry, each image built FROM the Hoard image.",
        GENERATED("functions/index.ts and events/jetstream.ts"),
        "",
        "  cd infra/openfaas",
        `  docker build -f ../${IMAGE_DOCKERFILE.slice("infra/".length)} -t "$HOARD_REGISTRY/hoard:$HOARD_TAG" ../..   # the code every function shares`,
        `  faas-cli secret create ${DATABASE_SECRET} --from-literal "$DATABASE_URL"`,
        `  faas-cli secret create ${NATS_SECRET} --from-file ./nats-credentials/${NATS_SECRET}   # see infra/kubernetes/10-secrets.yaml`,
        "  faas-cli up -f stack.yml",
        "",
        "What calls each function (annotation hoard.dev/trigger):",
        "  request   the Hoard gateway, by NATS request/reply on hoard.nats/subject; runtime/dispatcher.ts bridges",
        "            it to HTTP. There is no `topic` on purpose: the CE nats-connector would call the function",
        "            too (a second instance-create) and does not answer the request.",
        "  work      runtime/dispatcher.ts, from the durable JetStream consumer hoard.nats/consumer.",
        "  schedule  the cron-connector (topic cron-function); its finest period is one second.",
        "  A work function with a `schedule` annotation is also ticked by the cron-connector (backup schedules).",
      ],
      {
        version: "1.0",
        provider: { name: "openfaas", gateway: "${OPENFAAS_URL:-http://127.0.0.1:8080}" },
        functions: Object.fromEntries(fns.map((fn) => [fn.name, stackFunction(fn, version)])),
      },
    ),
  );
  files.set(
    "openfaas/hoard-env.yml",
    yamlFile(
      [
        "The settings every Hoard function reads (stack.yml's environment_file); DATABASE_URL and the runtime's NATS",
        `credential (${NATS_SECRET}) come from secrets.`,
        "HOARD_NODES lists the network nodes new networks are spread over: the names of the Kubernetes nodes labelled",
        "hoard.dev/network-node=true, whose trackers take their node name as HOARD_NODE. Empty means the node 'local'.",
        GENERATED("infra/openfaas.ts"),
      ],
      {
        environment: {
          NATS_URL: `nats://nats.${NAMESPACE}.svc.cluster.local:4222`,
          HOARD_NATS_CREDENTIALS: SECRETS_DIR,
          DATABASE_URL_FILE: `${SECRETS_DIR}/${DATABASE_SECRET}`,
          HOARD_HOME: "/tmp/hoard",
          HOARD_NODES: "",
          HOARD_LOG_LEVEL: "info",
        },
      },
    ),
  );
  files.set(
    "openfaas/function/README.md",
    [
      "# The handler folder of every Hoard function",
      "",
      "`faas-cli` wants a handler folder per function; Hoard's functions take their code from the Hoard image",
      `instead (\`${IMAGE_DOCKERFILE}\`), and \`HOARD_FUNCTION\` in \`stack.yml\` says which function a container serves.`,
      "This folder only satisfies faas-cli. Generated by `npm run infra`; do not edit.",
      "",
    ].join("\n"),
  );
  files.set(`openfaas/template/${TEMPLATE}/template.yml`, yamlFile([GENERATED("infra/openfaas.ts")], { language: TEMPLATE, fprocess: `node --import tsx ${FUNCTION_ENTRY}` }));
  files.set(
    `openfaas/template/${TEMPLATE}/Dockerfile`,
    [
      "# Hoard's OpenFaaS template: the stock node20 template's of-watchdog (mode=http) in front of",
      `# ${FUNCTION_ENTRY}, which serves the one function HOARD_FUNCTION names (set in stack.yml).`,
      `# The code comes from the Hoard image (${IMAGE_DOCKERFILE}), which every function shares, not from`,
      "# the handler folder. Generated by `npm run infra` (infra/openfaas.ts); do not edit.",
      "ARG HOARD_IMAGE=hoard:latest",
      `FROM --platform=\${TARGETPLATFORM:-linux/amd64} ${WATCHDOG} AS watchdog`,
      "FROM ${HOARD_IMAGE} AS ship",
      "",
      "COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog",
      "RUN chmod +x /usr/bin/fwatchdog",
      "",
      "WORKDIR /home/app",
      "USER node",
      "",
      `ENV fprocess="node --import tsx ${FUNCTION_ENTRY}"`,
      'ENV mode="http"',
      `ENV upstream_url="${UPSTREAM}"`,
      'ENV exec_timeout="10s"',
      'ENV write_timeout="15s"',
      'ENV read_timeout="15s"',
      'ENV prefix_logs="false"',
      "",
      "HEALTHCHECK --interval=3s CMD [ -e /tmp/.lock ] || exit 1",
      "",
      'CMD ["fwatchdog"]',
      "",
    ].join("\n"),
  );
  return files;
}
