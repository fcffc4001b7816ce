/**
 * The Serverless Framework description of the same functions: `serverless/serverless.yml`, with Hoard's
 * `nats` event declared by the local plugin `.serverless_plugins/hoard-events.js`.
 */
import { functionSubject, workConsumer } from "../events/index.js";
import { RUNTIME_QUEUE, type HoardFunction } from "../runtime/index.js";
import { GENERATED, yamlFile } from "./yaml.js";

/** The local plugin that declares the `nats` event (no published plugin targets OpenFaaS). */
export const SERVERLESS_PLUGIN = "hoard-events";

const NANOS_PER_SECOND = 1_000_000_000;

/** A function's events in serverless.yml: what triggers it, in the plugin's `nats` schema or as a schedule. */
export function serverlessEvents(fn: HoardFunction): unknown[] {
  const t = fn.trigger;
  if (t.kind === "request") return [{ nats: { subject: functionSubject(fn.name), queue: RUNTIME_QUEUE, reply: true } }];
  if (t.kind === "work") {
    const c = workConsumer(fn.name, t.subject, fn.timeoutMs);
    return [{ nats: { subject: t.subject, stream: t.stream, durable: c.durable_name, ackWaitSec: Number(c.ack_wait) / NANOS_PER_SECOND, maxDeliver: c.max_deliver } }];
  }
  const n = Math.max(1, Math.ceil(t.everyMs / 1000));
  return [{ schedule: `rate(${n} ${n === 1 ? "second" : "seconds"})` }];
}

/** The files under infra/serverless/, by path relative to infra/. */
export function serverlessFiles(fns: HoardFunction[]): Map<string, string> {
  const functions = Object.fromEntries(
    fns.map((fn) => [
      fn.name,
      {
        // The module's default export is the function; `.handler` its Lambda-signature handler.
        handler: `functions/${fn.name}/index.default.handler`,
        description: fn.description,
        timeout: Math.ceil(fn.timeoutMs / 1000),
        memorySize: fn.memoryMb,
        environment: { HOARD_FUNCTION: fn.name },
        events: serverlessEvents(fn),
      },
    ]),
  );
  const text = yamlFile(
    [
      "Hoard's functions for the Serverless Framework (v3): the same registry as infra/openfaas/stack.yml.",
      GENERATED("functions/index.ts and events/jetstream.ts"),
      "",
      "A description, not Hoard's deployment: paths are from the repository root, where Serverless looks for",
      "handlers and .serverless_plugins/ (cp infra/serverless/serverless.yml . && npx serverless@3 print).",
      "Handlers are TypeScript and expect FunctionDeps in their context, which bin/openfaas-function.ts provides;",
      "AWS Lambda would need a build step and such a wrapper, and its finest schedule rate is one minute.",
    ],
    {
      service: "hoard",
      frameworkVersion: "3",
      provider: {
        name: "aws",
        runtime: "nodejs20.x",
        environment: { NATS_URL: "${env:NATS_URL}", HOARD_NATS_CREDENTIALS: "${env:HOARD_NATS_CREDENTIALS}", DATABASE_URL: "${env:DATABASE_URL}" },
      },
      plugins: [SERVERLESS_PLUGIN],
      functions,
    },
  );
  return new Map([["serverless/serverless.yml", text]]);
}
