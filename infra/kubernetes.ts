/**
 * Kubernetes: everything Hoard runs beside its OpenFaaS functions, as `kubectl apply -f infra/kubernetes/`
 * takes it (files apply in name order): the namespace, connection secrets, Postgres (a CloudNativePG
 * Cluster), a NATS JetStream cluster, the streams and consumers, the gateway, the trackers and the dispatcher.
 */
import { natsAuthorization, type NatsUser } from "../bootstrap/nats-credentials.js";
import { trackerPart, type NatsPart } from "../events/index.js";
import { DEFAULT_REGISTRY, IMAGE_DOCKERFILE } from "./image.js";
import { GENERATED, yamlFile } from "./yaml.js";

export const NAMESPACE = "hoard";
/** The label that makes a node a network node: it runs a tracker, and guests live on it. */
export const NETWORK_NODE_LABEL = "hoard.dev/network-node";
export const GATEWAY_PORT = 8779;
/** The CloudNativePG cluster; the operator writes its connection URI to the secret `<name>-app`, key `uri`. */
const DB_CLUSTER = "hoard-db";
export const NATS_REPLICAS = 3;
const NATS_IMAGE = "nats:2.10.20-alpine";
const NATS_BOX_IMAGE = "natsio/nats-box:0.14.5";
const POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:15";
/** Where the dispatcher reaches the OpenFaaS gateway (its Service in the `openfaas` namespace). */
const OPENFAAS_GATEWAY = "http://gateway.openfaas.svc.cluster.local:8080";
const NATS_URL = `nats://nats.${NAMESPACE}.svc.cluster.local:4222`;

/**
 * NATS users: one per part, with events/permissions.ts's permissions. The trackers share one credential with
 * the node-wide permissions of `tracker-*`: the DaemonSet's pods are alike and nodes come and go, so no
 * per-node user can be named here (the private NATS of `npm start` does give each node its own).
 */
export const NATS_PARTS: NatsPart[] = ["admin", "gateway", "runtime", trackerPart("*")];
/** The name a part's credential goes by in the secrets: `tracker` for the shared `tracker-*`. */
export const credentialName = (part: NatsPart) => (part === trackerPart("*") ? "tracker" : part);
/** The operator's secret of the parts' nkey seeds, one key `<name>.nk` each; created by hand, never committed. */
export const NATS_CREDENTIALS_SECRET = "hoard-nats-credentials";
/** The operator's secret of the matching public keys, one key `<name>` each; nats-server reads them from its environment. */
export const NATS_NKEYS_SECRET = "hoard-nats-nkeys";
/** Where a container finds its part's seed (HOARD_NATS_CREDENTIALS). */
export const NATS_CREDENTIALS_DIR = "/var/run/secrets/hoard/nats";
const nkeyVariable = (part: NatsPart) => `HOARD_NKEY_${credentialName(part).toUpperCase()}`;
/** The users as the NATS configuration names them: each key a `$VARIABLE` of the server's environment. */
export const natsUsers = (): NatsUser[] => NATS_PARTS.map((part) => ({ part, nkey: `$${nkeyVariable(part)}` }));

/** The volume and mount that give a container its part's seed only, readable by the pod's group. */
function natsCredential(part: NatsPart) {
  const file = `${credentialName(part)}.nk`;
  return {
    env: [{ name: "HOARD_NATS_CREDENTIALS", value: NATS_CREDENTIALS_DIR }],
    volume: { name: "nats-credential", secret: { secretName: NATS_CREDENTIALS_SECRET, defaultMode: 0o440, items: [{ key: file, path: file }] } },
    mount: { name: "nats-credential", mountPath: NATS_CREDENTIALS_DIR, readOnly: true },
  };
}

const labels = (component: string) => ({ "app.kubernetes.io/name": "hoard", "app.kubernetes.io/component": component });
const meta = (name: string, component: string) => ({ name, namespace: NAMESPACE, labels: labels(component) });
const hoardCommand = (...args: string[]) => ["node", "--import", "tsx", ...args];

/** NATS_URL and DATABASE_URL, from secrets, for every Hoard container. */
const connections = [
  { name: "NATS_URL", valueFrom: { secretKeyRef: { name: "hoard", key: "NATS_URL" } } },
  { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: `${DB_CLUSTER}-app`, key: "uri" } } },
  // Every part declares the streams as the generated definitions do: kept on all NATS servers.
  { name: "HOARD_STREAM_REPLICAS", value: String(NATS_REPLICAS) },
];

function natsConfig(): string {
  const routes = Array.from({ length: NATS_REPLICAS }, (_, i) => `    nats://nats-${i}.nats.${NAMESPACE}.svc.cluster.local:6222`);
  return [
    "server_name: $POD_NAME",
    "port: 4222",
    "http_port: 8222",
    "jetstream {",
    "  store_dir: /data",
    "  max_file_store: 8G",
    "}",
    "cluster {",
    "  name: hoard",
    "  port: 6222",
    "  routes: [",
    ...routes,
    "  ]",
    "  connect_retries: 120",
    "}",
    `# Only Hoard's parts, each with its own permissions; the keys come from the secret ${NATS_NKEYS_SECRET}.`,
    natsAuthorization(natsUsers()),
  ].join("\n");
}

function nats() {
  const config = { apiVersion: "v1", kind: "ConfigMap", metadata: meta("nats-config", "nats"), data: { "nats.conf": natsConfig() } };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta("nats", "nats"),
    spec: {
      clusterIP: "None",
      // The routes name each server before it is ready: they must resolve while the cluster forms.
      publishNotReadyAddresses: true,
      selector: labels("nats"),
      ports: [
        { name: "client", port: 4222 },
        { name: "cluster", port: 6222 },
        { name: "monitor", port: 8222 },
      ],
    },
  };
  const statefulSet = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta("nats", "nats"),
    spec: {
      serviceName: "nats",
      replicas: NATS_REPLICAS,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: labels("nats") },
      template: {
        metadata: { labels: labels("nats") },
        spec: {
          containers: [
            {
              name: "nats",
              image: NATS_IMAGE,
              args: ["--config", "/etc/nats/nats.conf"],
              env: [
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                ...NATS_PARTS.map((part) => ({ name: nkeyVariable(part), valueFrom: { secretKeyRef: { name: NATS_NKEYS_SECRET, key: credentialName(part) } } })),
              ],
              ports: [
                { name: "client", containerPort: 4222 },
                { name: "cluster", containerPort: 6222 },
                { name: "monitor", containerPort: 8222 },
              ],
              readinessProbe: { httpGet: { path: "/healthz?js-enabled-only=true", port: "monitor" }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: "/healthz?js-enabled-only=true", port: "monitor" }, initialDelaySeconds: 30, periodSeconds: 10 },
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
              volumeMounts: [
                { name: "config", mountPath: "/etc/nats" },
                { name: "data", mountPath: "/data" },
              ],
            },
          ],
          volumes: [{ name: "config", configMap: { name: "nats-config" } }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } } }],
    },
  };
  return [config, service, statefulSet];
}

/**
 * The streams and work consumers of infra/jetstream/ in a ConfigMap, and a Job that declares them with the
 * nats CLI. The trackers' consumers are left to each tracker, which knows its node's name.
 */
function jetstreamObjects(jetstreamFiles: Map<string, string>) {
  const files = [...jetstreamFiles].filter(([rel]) => rel.startsWith("jetstream/streams/") || (rel.startsWith("jetstream/consumers/") && !rel.includes("/HOARD_NODES/")));
  // ConfigMap keys are flat; the volume's items put each file back at its path under infra/jetstream/.
  const key = (rel: string) => rel.slice("jetstream/".length).replaceAll("/", ".");
  const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: meta("hoard-jetstream", "jetstream"), data: Object.fromEntries(files.map(([rel, text]) => [key(rel), text])) };
  const script = [
    "set -eu",
    "for f in /jetstream/streams/*.json; do",
    '  name=$(basename "$f" .json)',
    '  if nats stream info "$name" >/dev/null 2>&1; then nats stream edit "$name" --config "$f" --force; else nats stream add --config "$f"; fi',
    "done",
    "for dir in /jetstream/consumers/*/; do",
    '  stream=$(basename "$dir")',
    '  for f in "$dir"*.json; do',
    '    name=$(basename "$f" .json)',
    '    nats consumer info "$stream" "$name" >/dev/null 2>&1 || nats consumer add "$stream" --config "$f"',
    "  done",
    "done",
    "",
  ].join("\n");
  const admin = natsCredential("admin");
  const job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta("hoard-jetstream", "jetstream"),
    spec: {
      backoffLimit: 20,
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels: labels("jetstream") },
        spec: {
          restartPolicy: "OnFailure",
          containers: [
            {
              name: "declare",
              image: NATS_BOX_IMAGE,
              command: ["/bin/sh", "-c", script],
              // The nats CLI connects as admin with the seed file NATS_NKEY names.
              env: [connections[0], { name: "NATS_NKEY", value: `${NATS_CREDENTIALS_DIR}/admin.nk` }],
              volumeMounts: [{ name: "definitions", mountPath: "/jetstream" }, admin.mount],
            },
          ],
          volumes: [{ name: "definitions", configMap: { name: "hoard-jetstream", items: files.map(([rel]) => ({ key: key(rel), path: rel.slice("jetstream/".length) })) } }, admin.volume],
        },
      },
    },
  };
  return [configMap, job];
}

function gateway(image: string) {
  const credential = natsCredential("gateway");
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta("gateway", "gateway"),
    spec: {
      replicas: 2,
      selector: { matchLabels: labels("gateway") },
      template: {
        metadata: { labels: labels("gateway") },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          containers: [
            {
              name: "gateway",
              image,
              command: hoardCommand("bin/hoard.ts", "start", "--parts", "gateway"),
              env: [
                ...connections,
                { name: "HOARD_HOST", value: "0.0.0.0" },
                { name: "HOARD_PORT", value: String(GATEWAY_PORT) },
                { name: "HOARD_HOME", value: "/var/lib/hoard" },
                ...credential.env,
              ],
              ports: [{ name: "http", containerPort: GATEWAY_PORT }],
              readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: "/", port: "http" }, initialDelaySeconds: 30, periodSeconds: 10 },
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
              volumeMounts: [{ name: "home", mountPath: "/var/lib/hoard" }, credential.mount],
            },
          ],
          volumes: [{ name: "home", emptyDir: {} }, credential.volume],
        },
      },
    },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta("gateway", "gateway"),
    spec: { selector: labels("gateway"), ports: [{ name: "http", port: GATEWAY_PORT, targetPort: "http" }] },
  };
  return [deployment, service];
}

function tracker(image: string) {
  const credential = natsCredential(trackerPart("*"));
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta("tracker", "tracker"),
    spec: {
      selector: { matchLabels: labels("tracker") },
      template: {
        metadata: { labels: labels("tracker") },
        spec: {
          nodeSelector: { [NETWORK_NODE_LABEL]: "true" },
          // Guests listen on the node's own address, and network namespaces must be the node's.
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          // The tracker finishes the commands it holds before it stops.
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: "tracker",
              image,
              command: hoardCommand("bin/hoard.ts", "start", "--parts", "tracker"),
              env: [
                ...connections,
                { name: "HOARD_NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                { name: "HOARD_GUEST_HOST", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
                { name: "HOARD_HOME", value: "/var/lib/hoard" },
                ...credential.env,
              ],
              // It manages network namespaces, cgroups and loop devices (the btrfs volume pool).
              securityContext: { privileged: true },
              resources: { requests: { cpu: "250m", memory: "512Mi" } },
              volumeMounts: [
                { name: "state", mountPath: "/var/lib/hoard", mountPropagation: "Bidirectional" },
                { name: "netns", mountPath: "/var/run/netns", mountPropagation: "Bidirectional" },
                credential.mount,
              ],
            },
          ],
          volumes: [
            { name: "state", hostPath: { path: "/var/lib/hoard", type: "DirectoryOrCreate" } },
            { name: "netns", hostPath: { path: "/var/run/netns", type: "DirectoryOrCreate" } },
            credential.volume,
          ],
        },
      },
    },
  };
}

function dispatcher(image: string) {
  // The dispatcher is the runtime of a cluster: it has the runtime's credential.
  const credential = natsCredential("runtime");
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta("dispatcher", "dispatcher"),
    spec: {
      replicas: 2,
      selector: { matchLabels: labels("dispatcher") },
      template: {
        metadata: { labels: labels("dispatcher") },
        spec: {
          // fsGroup: the credential's file is readable by the pod's group.
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          containers: [
            {
              name: "dispatcher",
              image,
              command: hoardCommand("bin/dispatcher.ts"),
              env: [
                ...connections,
                { name: "HOARD_GATEWAY_URL", value: OPENFAAS_GATEWAY },
                // The OpenFaaS gateway's basic auth as user:password, when it has one.
                { name: "HOARD_GATEWAY_AUTH", valueFrom: { secretKeyRef: { name: "hoard-openfaas", key: "auth", optional: true } } },
                ...credential.env,
              ],
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
              volumeMounts: [credential.mount],
            },
          ],
          volumes: [credential.volume],
        },
      },
    },
  };
}

/** The files under infra/kubernetes/, by path relative to infra/; `jetstreamFiles` are infra/jetstream/'s. */
export function kubernetesFiles(version: string, jetstreamFiles: Map<string, string>): Map<string, string> {
  const image = `${DEFAULT_REGISTRY}/hoard:${version}`;
  const src = GENERATED("infra/kubernetes.ts");
  const built = `The image is built from ${IMAGE_DOCKERFILE}; push it to your registry and change ${DEFAULT_REGISTRY} to it.`;
  return new Map([
    ["kubernetes/00-namespace.yaml", yamlFile(["Hoard's namespace.", src], { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE, labels: labels("namespace") } })],
    [
      "kubernetes/10-secrets.yaml",
      yamlFile(
        [
          "How Hoard's parts reach NATS. DATABASE_URL comes from the secret CloudNativePG writes (hoard-db-app, key uri).",
          "The dispatcher also reads the OpenFaaS gateway's basic auth, when it has one, from the secret hoard-openfaas:",
          "  kubectl -n hoard create secret generic hoard-openfaas --from-literal auth=admin:$PASSWORD",
          `NATS admits only Hoard's parts, each with its own nkey. Make them once (seeds stay out of the repository):`,
          `  node --import tsx bin/nats-credentials.ts ./nats-credentials ${NATS_PARTS.map(credentialName).join(" ")} > nats-nkeys.env`,
          `  kubectl -n hoard create secret generic ${NATS_CREDENTIALS_SECRET} --from-file ./nats-credentials/`,
          `  kubectl -n hoard create secret generic ${NATS_NKEYS_SECRET} --from-env-file nats-nkeys.env`,
          `Each container mounts only its own part's seed at ${NATS_CREDENTIALS_DIR} (HOARD_NATS_CREDENTIALS).`,
          src,
        ],
        { apiVersion: "v1", kind: "Secret", metadata: meta("hoard", "secrets"), type: "Opaque", stringData: { NATS_URL } },
      ),
    ],
    [
      "kubernetes/20-postgres.yaml",
      yamlFile(
        ["Postgres, Hoard's source of truth: three instances under the CloudNativePG operator (install it first).", src],
        {
          apiVersion: "postgresql.cnpg.io/v1",
          kind: "Cluster",
          metadata: meta(DB_CLUSTER, "postgres"),
          spec: {
            instances: 3,
            imageName: POSTGRES_IMAGE,
            bootstrap: { initdb: { database: "hoard", owner: "hoard" } },
            storage: { size: "10Gi" },
          },
        },
      ),
    ],
    ["kubernetes/30-nats.yaml", yamlFile([`NATS with JetStream, a cluster of ${NATS_REPLICAS} servers (Hoard's transport; Postgres holds the truth).`, src], ...nats())],
    ["kubernetes/40-jetstream.yaml", yamlFile(["Hoard's streams and work consumers (infra/jetstream/), declared by a Job with the nats CLI.", src], ...jetstreamObjects(jetstreamFiles))],
    ["kubernetes/50-gateway.yaml", yamlFile(["The HTTP gateway: Trove's v1.0 API, any number of replicas.", built, src], ...gateway(image))],
    ["kubernetes/60-tracker.yaml", yamlFile([`One tracker per network node (nodes labelled ${NETWORK_NODE_LABEL}=true); guests run beside it.`, built, src], tracker(image))],
    ["kubernetes/70-dispatcher.yaml", yamlFile(["The dispatcher: JetStream work and the gateway's calls to the OpenFaaS functions, and the outbox relay.", built, src], dispatcher(image))],
  ]);
}
