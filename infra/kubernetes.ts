/**
 * Kubernetes: everything Hoard runs beside its OpenFaaS functions, as `kubectl apply -f infra/kubernetes/`
 * takes it (files apply in name order): the namespace, connection secrets, Postgres (a CloudNativePG
 * Cluster), a NATS JetStream cluster, the streams and consumers, the gateway, the trackers and the dispatcher.
 */
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
    "",
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
              env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
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
              env: [connections[0]],
              volumeMounts: [{ name: "definitions", mountPath: "/jetstream" }],
            },
          ],
          volumes: [{ name: "definitions", configMap: { name: "hoard-jetstream", items: files.map(([rel]) => ({ key: key(rel), path: rel.slice("jetstream/".length) })) } }],
        },
      },
    },
  };
  return [configMap, job];
}

function gateway(image: string) {
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
              ],
              ports: [{ name: "http", containerPort: GATEWAY_PORT }],
              readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: "/", port: "http" }, initialDelaySeconds: 30, periodSeconds: 10 },
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
              volumeMounts: [{ name: "home", mountPath: "/var/lib/hoard" }],
            },
          ],
          volumes: [{ name: "home", emptyDir: {} }],
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
              ],
              // It manages network namespaces, cgroups and loop devices (the btrfs volume pool).
              securityContext: { privileged: true },
              resources: { requests: { cpu: "250m", memory: "512Mi" } },
              volumeMounts: [
                { name: "state", mountPath: "/var/lib/hoard", mountPropagation: "Bidirectional" },
                { name: "netns", mountPath: "/var/run/netns", mountPropagation: "Bidirectional" },
              ],
            },
          ],
          volumes: [
            { name: "state", hostPath: { path: "/var/lib/hoard", type: "DirectoryOrCreate" } },
            { name: "netns", hostPath: { path: "/var/run/netns", type: "DirectoryOrCreate" } },
          ],
        },
      },
    },
  };
}

function dispatcher(image: string) {
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
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
          containers: [
            {
              name: "dispatcher",
              image,
              command: hoardCommand("runtime/dispatcher.ts"),
              env: [
                ...connections,
                { name: "HOARD_GATEWAY_URL", value: OPENFAAS_GATEWAY },
                // The OpenFaaS gateway's basic auth as user:password, when it has one.
                { name: "HOARD_GATEWAY_AUTH", valueFrom: { secretKeyRef: { name: "hoard-openfaas", key: "auth", optional: true } } },
              ],
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
            },
          ],
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
