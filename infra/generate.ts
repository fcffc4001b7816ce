/**
 * `npm run infra`: writes the deployable definitions under infra/ from the code that is their source of
 * truth (the function registry and events/jetstream.ts). Never edit the generated files by hand: a test
 * fails when they differ from what this script would write.
 *
 *   infra/functions.json                          every function: trigger, subject, time budget, memory
 *   infra/jetstream/streams/<stream>.json         `nats stream add --config <file>`
 *   infra/jetstream/consumers/<stream>/<name>.json `nats consumer add <stream> --config <file>`
 *   infra/openfaas/                               stack.yml (one function each), the hoard-node20 template
 *   infra/serverless/serverless.yml               the same functions for the Serverless Framework
 *   infra/kubernetes/                             gateway, trackers, dispatcher, NATS cluster, Postgres
 *   infra/image/                                  the Dockerfile of the image all of them run
 *   README.md                                     its datastore capability table (between markers)
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { functionSubject, nodeConsumer, streamDefinitions, workConsumer } from "../events/index.js";
import { functions } from "../functions/index.js";
import type { HoardFunction } from "../runtime/function.js";
import { imageFiles } from "./image.js";
import { kubernetesFiles, NATS_REPLICAS } from "./kubernetes.js";
import { openfaasFiles } from "./openfaas.js";
import { withGeneratedParts } from "./readme.js";
import { serverlessFiles } from "./serverless.js";

export const INFRA_DIR = path.dirname(fileURLToPath(import.meta.url));
export const README = path.join(INFRA_DIR, "..", "README.md");
/** Folders under infra/ that belong to this generator entirely (stale files in them are removed). */
export const GENERATED_DIRS = ["jetstream", "openfaas", "serverless", "kubernetes", "image"];
/** Image tags follow the package's version. */
const VERSION: string = JSON.parse(readFileSync(path.join(INFRA_DIR, "..", "package.json"), "utf8")).version;
/** The tracker consumer is generated for this node; a node named N uses the same definition with N. */
const EXAMPLE_NODE = "local";

function describe(fn: HoardFunction) {
  const t = fn.trigger;
  const trigger =
    t.kind === "request" ? { kind: "request", subject: functionSubject(fn.name) }
    : t.kind === "work" ? { kind: "work", stream: t.stream, subject: t.subject, consumer: fn.name }
    : { kind: "schedule", everyMs: t.everyMs };
  return { name: fn.name, description: fn.description, trigger, timeoutMs: fn.timeoutMs, memoryMb: fn.memoryMb };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every generated file, by its path relative to infra/. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  files.set("functions.json", json({ generatedBy: "npm run infra", functions: functions.map(describe) }));
  for (const stream of streamDefinitions(NATS_REPLICAS)) files.set(`jetstream/streams/${stream.name}.json`, json(stream));
  for (const fn of functions) {
    if (fn.trigger.kind !== "work") continue;
    files.set(`jetstream/consumers/${fn.trigger.stream}/${fn.name}.json`, json(workConsumer(fn.name, fn.trigger.subject, fn.timeoutMs)));
  }
  const tracker = nodeConsumer(EXAMPLE_NODE);
  files.set(`jetstream/consumers/HOARD_NODES/${tracker.durable_name}.json`, json(tracker));
  const jetstreamFiles = new Map([...files].filter(([rel]) => rel.startsWith("jetstream/")));
  for (const part of [openfaasFiles(functions, VERSION), serverlessFiles(functions), kubernetesFiles(VERSION, jetstreamFiles), imageFiles(VERSION)]) {
    for (const [rel, content] of part) files.set(rel, content);
  }
  return files;
}

/** Every file now under the generated folders and functions.json, relative to infra/. */
export function filesOnDisk(): string[] {
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(INFRA_DIR, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else found.push(child);
    }
  };
  for (const dir of GENERATED_DIRS) {
    try {
      walk(dir);
    } catch {
      // not generated yet
    }
  }
  return found.sort();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const dir of GENERATED_DIRS) rmSync(path.join(INFRA_DIR, dir), { recursive: true, force: true });
  const files = generatedFiles();
  for (const [rel, content] of files) {
    mkdirSync(path.dirname(path.join(INFRA_DIR, rel)), { recursive: true });
    writeFileSync(path.join(INFRA_DIR, rel), content);
  }
  writeFileSync(README, withGeneratedParts(readFileSync(README, "utf8")));
  console.log(`wrote ${files.size} files under ${INFRA_DIR} and the generated parts of README.md`);
}
