import type { Context } from "aws-lambda";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Config } from "../config/index.js";
import type { CloudEvent } from "../events/index.js";
import type { Db } from "../store/index.js";
import type { GuestCaller } from "./guest-caller.js";

/** What a handler may use. The host (local runtime or OpenFaaS entry) builds it once per process. */
export interface FunctionDeps {
  db: Db;
  config: Config;
  log: Logger;
  /** Reaches guests through their node's tracker (schema, users, root, settings). */
  guests: GuestCaller;
}

/** A Lambda context that also carries the host's dependencies. */
export interface HoardContext extends Context {
  deps: FunctionDeps;
}

/** How a function is triggered: a synchronous call from the gateway, work from a JetStream subject, or a timer. */
export type Trigger =
  | { kind: "request" }
  | { kind: "work"; stream: string; subject: string }
  | { kind: "schedule"; everyMs: number };

export interface FunctionDefinition<S extends z.ZodTypeAny = z.ZodTypeAny, R = unknown> {
  /** Verb on a noun: `instance-create`. Also the durable consumer name for work functions. */
  name: string;
  description: string;
  trigger: Trigger;
  /** Schema of the event's `data`. */
  input: S;
  /** The budget of one invocation; work functions are redelivered after it. */
  timeoutMs: number;
  memoryMb: number;
  handle(data: z.infer<S>, ctx: { event: CloudEvent<z.infer<S>>; deps: FunctionDeps; log: Logger }): Promise<R>;
}

/** AWS Lambda's async handler signature. */
export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

/** A defined function and its AWS-Lambda-signature handler. */
export type HoardFunction<S extends z.ZodTypeAny = z.ZodTypeAny, R = unknown> = FunctionDefinition<S, R> & {
  handler: LambdaHandler<CloudEvent, R>;
};

/** Defines a function and derives its Lambda handler `(event, context) => Promise<result>`. */
export function defineFunction<S extends z.ZodTypeAny, R>(def: FunctionDefinition<S, R>): HoardFunction<S, R> {
  const handler = async (event: CloudEvent, context: Context): Promise<R> => {
    const { deps } = context as HoardContext;
    const data = def.input.parse(event.data);
    const log = deps.log.child({ fn: def.name, event: event.id });
    return def.handle(data, { event: { ...event, data }, deps, log });
  };
  return Object.assign(def, { handler });
}

/** Builds the Lambda context for one invocation. */
export function lambdaContext(fn: FunctionDefinition, requestId: string, deps: FunctionDeps, startedAt = Date.now()): HoardContext {
  return {
    deps,
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.name,
    functionVersion: "$LATEST",
    invokedFunctionArn: `hoard:function:${fn.name}`,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: requestId,
    logGroupName: "hoard",
    logStreamName: fn.name,
    getRemainingTimeInMillis: () => Math.max(0, fn.timeoutMs - (Date.now() - startedAt)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
