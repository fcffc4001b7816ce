import type { Context } from "aws-lambda";
import type { Logger } from "pino";
import { z } from "zod";
import type { Config } from "../config/index.js";
import { requests, type CloudEvent, type RequestContract, type RequestName } from "../events/index.js";
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
  /** Schema of the answer (request functions): an answer outside it fails the call as INTERNAL instead of reaching the caller. */
  output?: z.ZodTypeAny;
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
    const result = await def.handle(data, { event: { ...event, data }, deps, log });
    if (def.output) checkAnswer(def.name, def.output, result);
    return result;
  };
  return Object.assign(def, { handler });
}

/**
 * Checks an answer against its schema as the caller will read it: JSON, where a Date is its text and an
 * undefined field is absent. A mismatch is the function's fault, so it is a plain Error (INTERNAL), not a ZodError (a 400).
 */
function checkAnswer(name: string, output: z.ZodTypeAny, result: unknown): void {
  const wire: unknown = result === undefined ? undefined : JSON.parse(JSON.stringify(result));
  const checked = output.safeParse(wire);
  if (!checked.success) throw new Error(`function ${name} answered outside its contract: ${z.prettifyError(checked.error)}`);
}

type Contract<N extends RequestName> = (typeof requests)[N];

/** A request function as its module writes it: the name's contract gives its input, output and trigger. */
export interface RequestDefinition<N extends RequestName> extends Pick<FunctionDefinition, "description" | "timeoutMs" | "memoryMb"> {
  /** Answers with the contract's output (checked against it before it is sent). */
  handle(data: z.output<Contract<N>["input"]>, ctx: { event: CloudEvent<z.output<Contract<N>["input"]>>; deps: FunctionDeps; log: Logger }): Promise<z.input<Contract<N>["output"]>>;
}

/**
 * Defines the request function `name` from its entry in events' `requests` table: input and output come
 * from the contract, so they cannot drift from the name the gateway invokes.
 */
export function defineRequest<N extends RequestName>(name: N, def: RequestDefinition<N>): HoardFunction {
  const { input, output }: RequestContract = requests[name];
  // TypeScript cannot follow a generic name to its entry's schemas; `name` alone ties handle to them, above.
  return defineFunction({ ...def, name, trigger: { kind: "request" }, input, output, handle: def.handle as FunctionDefinition["handle"] });
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
