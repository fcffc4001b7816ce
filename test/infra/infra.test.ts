import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { natsAuthorization } from "../../bootstrap/nats-credentials.js";
import { functionSubject, permissionsOf, trackerPart, WORK_MAX_DELIVER } from "../../events/index.js";
import { functions } from "../../functions/index.js";
import { filesOnDisk, generatedFiles, GENERATED_DIRS, INFRA_DIR, README } from "../../infra/generate.js";
import { credentialName, NATS_CREDENTIALS_DIR, NATS_CREDENTIALS_SECRET, NATS_NKEYS_SECRET, NATS_PARTS, natsUsers } from "../../infra/kubernetes.js";
import { NATS_SECRET } from "../../infra/openfaas.js";
import { withGeneratedParts } from "../../infra/readme.js";

describe("infra/", () => {
  const expected = generatedFiles();

  it("holds exactly the files the generator writes (run `npm run infra` after changing functions or streams)", () => {
    const generatedHere = [...expected.keys()].filter((rel) => GENERATED_DIRS.some((d) => rel.startsWith(`${d}/`))).sort();
    expect(filesOnDisk()).toEqual(generatedHere);
  });

  it.each([...expected.keys()])("%s is up to date (run `npm run infra`)", (rel) => {
    expect(readFileSync(path.join(INFRA_DIR, rel), "utf8")).toBe(expected.get(rel));
  });

  it("README.md's datastore table and event list are the ones the code gives (run `npm run infra`)", () => {
    const readme = readFileSync(README, "utf8");
    expect(readme).toBe(withGeneratedParts(readme));
  });

  it("declares a consumer for every work function and one for the tracker of a node", () => {
    const consumers = [...expected.keys()].filter((rel) => rel.includes("/consumers/"));
    expect(consumers).toContain("jetstream/consumers/HOARD_WORK/instance-provisioned.json");
    expect(consumers).toContain("jetstream/consumers/HOARD_NODES/tracker-local.json");
  });
});

/** The documents of a generated YAML file. */
const docsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS());
const ROOT = path.join(INFRA_DIR, "..");
const seconds = (ms: number) => `${Math.ceil(ms / 1000)}s`;

describe("infra/ YAML", () => {
  const expected = generatedFiles();
  const yamlFiles = [...expected.keys()].filter((rel) => /\.ya?ml$/.test(rel));

  it.each(yamlFiles)("%s parses as YAML", (rel) => {
    const docs = parseAllDocuments(expected.get(rel)!);
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(d.errors.map((e) => e.message)).toEqual([]);
  });
});

describe("infra/openfaas/", () => {
  const expected = generatedFiles();
  const stack = parse(expected.get("openfaas/stack.yml")!);

  it("has one function per registry entry, with its trigger, time budget and memory", () => {
    expect(stack.version).toBe("1.0");
    expect(stack.provider.name).toBe("openfaas");
    expect(Object.keys(stack.functions).sort()).toEqual(functions.map((fn) => fn.name).sort());
    for (const fn of functions) {
      const f = stack.functions[fn.name];
      expect(f.lang).toBe("hoard-node20");
      expect(f.image).toMatch(new RegExp(`/hoard-fn-${fn.name}:`));
      expect(fn.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(f.environment.HOARD_FUNCTION).toBe(fn.name);
      expect(f.environment.exec_timeout).toBe(seconds(fn.timeoutMs));
      expect(f.limits.memory).toBe(`${fn.memoryMb}Mi`);
      const a = f.annotations;
      expect(a["hoard.dev/trigger"]).toBe(fn.trigger.kind);
      if (fn.trigger.kind === "request") {
        expect(a["hoard.nats/subject"]).toBe(functionSubject(fn.name));
        // The CE nats-connector must not call it as well: no topic.
        expect(a.topic).toBeUndefined();
      } else if (fn.trigger.kind === "work") {
        expect(a).toMatchObject({ "hoard.nats/stream": fn.trigger.stream, "hoard.nats/subject": fn.trigger.subject, "hoard.nats/consumer": fn.name });
        expect(expected.has(`jetstream/consumers/${fn.trigger.stream}/${fn.name}.json`)).toBe(true);
      } else {
        expect(a).toMatchObject({ topic: "cron-function", schedule: `@every ${Math.max(1, Math.ceil(fn.trigger.everyMs / 1000))}s` });
      }
      for (const file of f.environment_file) expect(expected.has(`openfaas/${file}`)).toBe(true);
      expect([...expected.keys()].some((rel) => rel.startsWith(`openfaas/${f.handler.replace(/^\.\//, "")}/`))).toBe(true);
    }
  });

  it("builds its template on files that exist: of-watchdog in http mode in front of the function host", () => {
    const dockerfile = expected.get("openfaas/template/hoard-node20/Dockerfile")!;
    expect(dockerfile).toContain('ENV mode="http"');
    const fprocess = /ENV fprocess="node --import tsx (\S+)"/.exec(dockerfile)?.[1];
    expect(fprocess).toBe("bin/openfaas-function.ts");
    expect(existsSync(path.join(ROOT, fprocess!))).toBe(true);
    expect(parse(expected.get("openfaas/template/hoard-node20/template.yml")!)).toEqual({ language: "hoard-node20", fprocess: `node --import tsx ${fprocess}` });
    const image = expected.get("image/Dockerfile")!;
    for (const copied of /COPY (\S+) (\S+) \.\//.exec(image)!.slice(1, 3)) expect(existsSync(path.join(ROOT, copied!))).toBe(true);
    expect(image).toContain('CMD ["node", "--import", "tsx", "bin/hoard.ts", "start"]');
    expect(existsSync(path.join(ROOT, "bin/hoard.ts"))).toBe(true);
  });
});

describe("infra/serverless/serverless.yml", () => {
  const sls = parse(generatedFiles().get("serverless/serverless.yml")!);
  const Plugin = createRequire(import.meta.url)(path.join(ROOT, ".serverless_plugins", `${sls.plugins[0]}.js`));

  it("has one function per registry entry; each handler path names that function's Lambda handler", async () => {
    expect(sls.provider).toMatchObject({ name: "aws", runtime: "nodejs20.x" });
    expect(Object.keys(sls.functions).sort()).toEqual(functions.map((fn) => fn.name).sort());
    for (const fn of functions) {
      const f = sls.functions[fn.name];
      const [, file, property] = /^(.+)\.default\.(handler)$/.exec(f.handler)!;
      const mod = await import(path.join(ROOT, `${file}.ts`));
      expect(mod.default).toBe(fn);
      expect(typeof mod.default[property!]).toBe("function");
      expect(f.timeout).toBe(Math.ceil(fn.timeoutMs / 1000));
      expect(f.memorySize).toBe(fn.memoryMb);
      // Lambda's limit on a description.
      expect(f.description.length).toBeLessThanOrEqual(256);
    }
  });

  it("gives each function its trigger as a `nats` event the local plugin declares, or a schedule", () => {
    let schema: { properties: Record<string, { type: string }>; required: string[]; additionalProperties: boolean } | null = null;
    new Plugin({ configSchemaHandler: { defineFunctionEvent: (provider: string, name: string, s: typeof schema) => (provider === "aws" && name === "nats" ? (schema = s) : null) } });
    expect(schema).not.toBeNull();
    const typeOf = (v: unknown) => (Number.isInteger(v) ? "integer" : typeof v);
    for (const fn of functions) {
      const [event, ...more] = sls.functions[fn.name].events;
      expect(more).toEqual([]);
      if (fn.trigger.kind === "schedule") {
        expect(event.schedule).toMatch(/^rate\(\d+ seconds?\)$/);
        continue;
      }
      const nats = event.nats;
      for (const key of schema!.required) expect(nats).toHaveProperty(key);
      for (const [key, value] of Object.entries(nats)) expect([key, typeOf(value)]).toEqual([key, schema!.properties[key]?.type]);
      if (fn.trigger.kind === "request") expect(nats).toEqual({ subject: functionSubject(fn.name), queue: "hoard-runtime", reply: true });
      else expect(nats).toMatchObject({ subject: fn.trigger.subject, stream: fn.trigger.stream, durable: fn.name, maxDeliver: WORK_MAX_DELIVER });
    }
  });
});

describe("infra/kubernetes/", () => {
  const expected = generatedFiles();
  const manifests = [...expected].filter(([rel]) => rel.startsWith("kubernetes/")).flatMap(([, text]) => docsOf(text));
  const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
  const containers = manifests.flatMap((m) => m.spec?.template?.spec?.containers ?? []);

  it("declares every object with a kind, a name and Hoard's namespace", () => {
    for (const m of manifests) {
      expect(m.apiVersion).toBeTruthy();
      expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      expect(m.metadata.namespace ?? (m.kind === "Namespace" ? "-" : undefined)).toBeDefined();
    }
    expect(find("Namespace", "hoard")).toBeDefined();
  });

  it("runs the gateway behind a Service, ready when GET / answers", () => {
    const deployment = find("Deployment", "gateway");
    const c = deployment.spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: "http", containerPort: 8779 }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/", port: "http" });
    expect(find("Service", "gateway").spec.ports[0]).toMatchObject({ port: 8779, targetPort: "http" });
  });

  it("runs one privileged tracker per network node, named after its node", () => {
    const ds = find("DaemonSet", "tracker");
    const pod = ds.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ "hoard.dev/network-node": "true" });
    const c = pod.containers[0];
    expect(c.securityContext.privileged).toBe(true);
    expect(c.env).toContainEqual({ name: "HOARD_NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } });
    const state = c.volumeMounts.find((v: { mountPath: string }) => v.mountPath === "/var/lib/hoard");
    expect(pod.volumes.find((v: { name: string }) => v.name === state.name).hostPath.path).toBe("/var/lib/hoard");
  });

  it("runs two dispatchers, a NATS cluster of three and a CloudNativePG cluster of three", () => {
    expect(find("Deployment", "dispatcher").spec.replicas).toBe(2);
    const nats = find("StatefulSet", "nats");
    expect(nats.spec.replicas).toBe(3);
    expect(find("Service", nats.spec.serviceName).spec.clusterIP).toBe("None");
    const conf: string = find("ConfigMap", "nats-config").data["nats.conf"];
    expect(conf).toContain("jetstream {");
    expect(conf.match(/nats:\/\/nats-\d\.nats\.hoard\.svc\.cluster\.local:6222/g)).toHaveLength(3);
    expect(find("Cluster", "hoard-db")).toMatchObject({ apiVersion: "postgresql.cnpg.io/v1", spec: { instances: 3 } });
  });

  it("declares the streams and work consumers of infra/jetstream/ unchanged", () => {
    const configMap = find("ConfigMap", "hoard-jetstream");
    const job = find("Job", "hoard-jetstream");
    const items: { key: string; path: string }[] = job.spec.template.spec.volumes[0].configMap.items;
    const declared = Object.fromEntries(items.map((i) => [`jetstream/${i.path}`, configMap.data[i.key]]));
    const wanted = Object.fromEntries([...expected].filter(([rel]) => rel.startsWith("jetstream/") && !rel.includes("/consumers/HOARD_NODES/")));
    expect(declared).toEqual(wanted);
  });

  it("starts Hoard's containers on files that exist, with connections from secrets", () => {
    const hoard = containers.filter((c) => c.command?.[0] === "node");
    expect(hoard.map((c) => c.name).sort()).toEqual(["dispatcher", "gateway", "tracker"]);
    for (const c of hoard) {
      expect(existsSync(path.join(ROOT, c.command[3]))).toBe(true);
      for (const name of ["NATS_URL", "DATABASE_URL"]) expect(c.env.find((e: { name: string }) => e.name === name).valueFrom.secretKeyRef).toBeDefined();
    }
    // Secrets are declared here, written by CloudNativePG (<cluster>-app), made by the operator as
    // 10-secrets.yaml says (the NATS keys: never committed), or optional.
    const operators = [NATS_CREDENTIALS_SECRET, NATS_NKEYS_SECRET];
    expect(operators.every((name) => expected.get("kubernetes/10-secrets.yaml")!.includes(`create secret generic ${name}`))).toBe(true);
    const refs = containers.flatMap((c) => (c.env ?? []).map((e: any) => e.valueFrom?.secretKeyRef).filter(Boolean));
    for (const ref of refs) expect(Boolean(find("Secret", ref.name)) || ref.name === "hoard-db-app" || operators.includes(ref.name) || ref.optional === true).toBe(true);
  });

  it("runs NATS with one user per part, the permissions of events/permissions.ts, and keys from the operator's secret", () => {
    const conf: string = find("ConfigMap", "nats-config").data["nats.conf"];
    expect(conf).toContain(natsAuthorization(natsUsers()));
    // Each key is a variable of the server's environment, filled from the secret of public keys.
    const keys = [...conf.matchAll(/nkey: (\S+?)[,}\s]/g)].map((m) => m[1]);
    expect(keys).toEqual(NATS_PARTS.map((p) => `$HOARD_NKEY_${credentialName(p).toUpperCase()}`));
    const env = find("StatefulSet", "nats").spec.template.spec.containers[0].env;
    for (const part of NATS_PARTS) {
      expect(env).toContainEqual({ name: `HOARD_NKEY_${credentialName(part).toUpperCase()}`, valueFrom: { secretKeyRef: { name: NATS_NKEYS_SECRET, key: credentialName(part) } } });
    }
    // No part but admin goes unrestricted; the trackers' shared user reaches no runtime or gateway subject.
    expect(permissionsOf("admin")).toBeNull();
    expect(permissionsOf(trackerPart("*"))!.publish).not.toContain("hoard.node.>");
    // No nkey seed (S…) or public key (U…) is committed in any generated file.
    for (const [rel, text] of expected) expect(text, rel).not.toMatch(/\b[SU][A-Z2-7]{55}\b|\bSU[A-Z2-7]{56}\b/);
  });

  it("gives each Hoard container its own part's NATS credential only, and the JetStream Job the admin's", () => {
    const pods = [
      { spec: find("Deployment", "gateway").spec.template.spec, part: "gateway" },
      { spec: find("DaemonSet", "tracker").spec.template.spec, part: "tracker" },
      { spec: find("Deployment", "dispatcher").spec.template.spec, part: "runtime" },
      { spec: find("Job", "hoard-jetstream").spec.template.spec, part: "admin" },
    ];
    for (const { spec, part } of pods) {
      const secretVolumes = spec.volumes.filter((v: any) => v.secret);
      expect(secretVolumes.map((v: any) => [v.secret.secretName, v.secret.items])).toEqual([[NATS_CREDENTIALS_SECRET, [{ key: `${part}.nk`, path: `${part}.nk` }]]]);
      const c = spec.containers[0];
      expect(c.volumeMounts).toContainEqual({ name: secretVolumes[0].name, mountPath: NATS_CREDENTIALS_DIR, readOnly: true });
      const setting = part === "admin" ? { name: "NATS_NKEY", value: `${NATS_CREDENTIALS_DIR}/admin.nk` } : { name: "HOARD_NATS_CREDENTIALS", value: NATS_CREDENTIALS_DIR };
      expect(c.env).toContainEqual(setting);
      // Readable by the pod's user: root, or the group the files are given.
      expect(spec.securityContext?.runAsUser === undefined || spec.securityContext.fsGroup !== undefined).toBe(true);
    }
  });
});

describe("infra/openfaas/ and NATS", () => {
  it("gives every function the runtime's NATS credential, from a secret in the folder HOARD_NATS_CREDENTIALS names", () => {
    const expected = generatedFiles();
    const stack = parse(expected.get("openfaas/stack.yml")!);
    for (const fn of functions) expect(stack.functions[fn.name].secrets).toContain(NATS_SECRET);
    expect(NATS_SECRET).toBe("runtime.nk");
    expect(parse(expected.get("openfaas/hoard-env.yml")!).environment.HOARD_NATS_CREDENTIALS).toBe("/var/openfaas/secrets");
    expect(expected.get("openfaas/stack.yml")).toContain(`faas-cli secret create ${NATS_SECRET}`);
  });
});
