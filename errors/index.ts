/**
 * Every error a Hoard user can meet, in one catalogue: a stable code, the HTTP status, Trove's fault name
 * and a message template. Handlers throw these; the gateway renders them as `{"<fault>":{"code","message"}}`.
 */

type Fault =
  | "badRequest"
  | "unauthorized"
  | "forbidden"
  | "itemNotFound"
  | "conflict"
  | "overLimit"
  | "unprocessableEntity"
  | "notImplemented"
  | "serviceUnavailable"
  | "instanceFault";

interface Entry<P> {
  status: number;
  fault: Fault;
  message: (p: P) => string;
  /** Whether repeating the same request later can succeed. */
  retryable?: boolean;
}

const entry = <P = void>(e: Entry<P>) => e;

export const catalogue = {
  VALIDATION: entry<{ detail: string }>({ status: 400, fault: "badRequest", message: (p) => `Validation error: ${p.detail}` }),
  MALFORMED_PATH: entry<{ detail: string }>({ status: 400, fault: "badRequest", message: (p) => `Malformed request path: ${p.detail}` }),
  MALFORMED_BODY: entry<{ detail: string }>({ status: 400, fault: "badRequest", message: (p) => `Malformed request body: ${p.detail}` }),
  UNKNOWN_FLAVOR: entry<{ ref: string }>({ status: 400, fault: "badRequest", message: (p) => `Flavor ${p.ref} could not be found. Run 'openstack database flavor list' to see the flavors.` }),
  UNKNOWN_DATASTORE: entry<{ name: string }>({ status: 400, fault: "badRequest", message: (p) => `Datastore '${p.name}' could not be found. Run 'openstack datastore list' to see the datastores.` }),
  UNKNOWN_DATASTORE_VERSION: entry<{ datastore: string; version: string }>({ status: 400, fault: "badRequest", message: (p) => `Datastore version '${p.version}' of datastore '${p.datastore}' could not be found. Run 'openstack datastore version list ${p.datastore}' to see its versions.` }),
  INACTIVE_DATASTORE_VERSION: entry<{ datastore: string; version: string }>({ status: 400, fault: "badRequest", message: (p) => `Datastore version '${p.version}' of datastore '${p.datastore}' is not active.` }),
  NETWORK_OF_OTHER_PROJECT: entry<{ id: string }>({ status: 400, fault: "badRequest", message: (p) => `Network ${p.id} could not be found.` }),
  INVALID_NAME: entry<{ what: string; name: string; rule: string }>({ status: 400, fault: "badRequest", message: (p) => `Invalid ${p.what} name '${p.name}': ${p.rule}` }),
  INVALID_VALUE: entry<{ what: string; rule: string }>({ status: 400, fault: "badRequest", message: (p) => `Invalid ${p.what}: ${p.rule}` }),
  WEBHOOK_TARGET_REFUSED: entry<{ reason: string }>({ status: 400, fault: "badRequest", message: (p) => `Invalid subscription.url: ${p.reason}.` }),
  DUPLICATE_NAME: entry<{ what: string; name: string }>({ status: 400, fault: "badRequest", message: (p) => `${p.what} '${p.name}' is given more than once.` }),
  VOLUME_TOO_LARGE: entry<{ size: number; max: number }>({ status: 413, fault: "overLimit", message: (p) => `Volume size ${p.size}G cannot exceed the maximum of ${p.max}G.` }),
  QUOTA_EXCEEDED: entry<{ resources: string[] }>({ status: 413, fault: "overLimit", message: (p) => `Quota exceeded for resources: [${p.resources.map((r) => `'${r}'`).join(", ")}]. See 'openstack database quota show <project>' for the limits.` }),
  RATE_LIMITED: entry<{ limit: number; verb: string; retryAfter: number }>({ status: 413, fault: "overLimit", retryable: true, message: (p) => `This request was rate-limited: only ${p.limit} ${p.verb} request(s) can be made per minute; retry in ${p.retryAfter} s.` }),
  UNKNOWN_QUOTA_RESOURCE: entry<{ name: string }>({ status: 404, fault: "itemNotFound", message: (p) => `Quota resource '${p.name}' does not exist (there are instances, ram, volumes and backups).` }),
  AUTH_REQUIRED: entry({ status: 401, fault: "unauthorized", message: () => "This endpoint requires a valid X-Auth-Token header." }),
  ADMIN_REQUIRED: entry({ status: 401, fault: "unauthorized", message: () => "User does not have admin privileges." }),
  WRONG_PROJECT: entry<{ project: string }>({ status: 403, fault: "forbidden", message: (p) => `User with tenant id ${p.project} cannot access this resource.` }),
  NOT_FOUND: entry<{ what: string; id: string }>({ status: 404, fault: "itemNotFound", message: (p) => `${p.what} ${p.id} could not be found.` }),
  ROUTE_NOT_FOUND: entry<{ method: string; path: string }>({ status: 404, fault: "itemNotFound", message: (p) => `No route for ${p.method} ${p.path}. See Trove's v1.0 API for the supported routes.` }),
  NOT_ACTIONABLE: entry<{ id: string; status: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `Instance ${p.id} is not currently available for an action to be performed (status was ${p.status}).` }),
  INSTANCE_NOT_READY: entry<{ id: string; status: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `Instance ${p.id} is not ready for this operation (status was ${p.status}); wait until it is ACTIVE and HEALTHY.` }),
  INSTANCE_STATE: entry<{ status: string; need: string }>({ status: 400, fault: "badRequest", message: (p) => `The instance status is currently: ${p.status}; ${p.need}.` }),
  // ---- guest refusals raised by the engines (datastores/*): keep engine entries in this block ----
  // A user is `'name'`, or `'name'@'host'` where the engine's users have hosts (MariaDB).
  DATABASE_NOT_FOUND: entry<{ name: string }>({ status: 404, fault: "itemNotFound", message: (p) => `Database '${p.name}' does not exist.` }),
  USER_NOT_FOUND: entry<{ name: string; host?: string }>({ status: 404, fault: "itemNotFound", message: (p) => `User '${p.name}'${p.host === undefined ? "" : `@'${p.host}'`} does not exist.` }),
  USER_NO_ACCESS: entry<{ name: string; host?: string; database: string }>({ status: 404, fault: "itemNotFound", message: (p) => `User '${p.name}'${p.host === undefined ? "" : `@'${p.host}'`} has no access to database '${p.database}'.` }),
  USER_EXISTS: entry<{ name: string; host?: string }>({ status: 400, fault: "badRequest", message: (p) => `A user named '${p.name}'${p.host === undefined ? "" : `@'${p.host}'`} already exists.` }),
  USER_GIVEN_TWICE: entry<{ name: string }>({ status: 400, fault: "badRequest", message: (p) => `User '${p.name}' is given twice.` }),
  RESERVED_USER: entry<{ name: string }>({ status: 400, fault: "badRequest", message: (p) => `'${p.name}' is reserved for the service.` }),
  USER_HOST_NOT_SUPPORTED: entry<{ engine: string }>({ status: 400, fault: "badRequest", message: (p) => `${p.engine} users have no host; use '%'` }),
  IDENTIFIER_TOO_LONG: entry<{ name: string; maxBytes: number }>({ status: 400, fault: "badRequest", message: (p) => `'${p.name}' is longer than ${p.maxBytes} bytes` }),
  NUL_CHARACTER: entry<{ what: string }>({ status: 400, fault: "badRequest", message: (p) => `a ${p.what} may not contain a NUL character` }),
  PARAMETER_NOT_SETTABLE: entry<{ engine: string; name: string }>({ status: 400, fault: "badRequest", message: (p) => `'${p.name}' is not a ${p.engine} parameter Hoard can set` }),
  // MariaDB does not repeat the value (it may be an attempt at SQL), the others do.
  PARAMETER_VALUE_INVALID: entry<{ name: string; value?: string }>({ status: 400, fault: "badRequest", message: (p) => (p.value === undefined ? `the value given for ${p.name} is not valid for it` : `'${p.value}' is not a valid value for ${p.name}`) }),
  PARAMETER_NEEDS_RESTART: entry<{ name: string; server: string }>({ status: 400, fault: "badRequest", message: (p) => `${p.name} takes effect only when ${p.server} restarts` }),
  ENGINE_REFUSED: entry<{ engine: string; what: string; detail: string }>({ status: 400, fault: "badRequest", message: (p) => `${p.engine} refused ${p.what}: ${p.detail}` }),
  STATEMENT_REFUSED: entry<{ context: string; detail: string }>({ status: 400, fault: "badRequest", message: (p) => `${p.context}: ${p.detail}` }),
  CAPABILITY_NOT_SUPPORTED: entry<{ engine: string; capability: string }>({ status: 501, fault: "notImplemented", message: (p) => `${p.engine} does not support ${p.capability}.` }),
  DATABASES_NOT_SUPPORTED: entry<{ engine: string; detail: string }>({ status: 501, fault: "notImplemented", message: (p) => `${p.engine} has no named databases: ${p.detail}.` }),
  // ---- guest refusals raised by the tracker (tracker/*): keep tracker entries in this block ----
  GUEST_ABSENT: entry<{ id: string }>({ status: 404, fault: "itemNotFound", message: (p) => `instance ${p.id} has no guest on this node` }),
  ENGINE_NOT_RUNNING: entry<{ id: string }>({ status: 400, fault: "badRequest", message: (p) => `the database of instance ${p.id} is not running: start it before backing it up` }),
  BACKUP_WRONG_DATASTORE: entry<{ backupId: string; backup: string; id: string; instance: string }>({ status: 400, fault: "badRequest", message: (p) => `backup ${p.backupId} is of ${p.backup}; instance ${p.id} runs ${p.instance}` }),
  BACKUP_FILE_MISSING: entry<{ key: string; store: string }>({ status: 404, fault: "itemNotFound", message: (p) => `the backup file '${p.key}' is missing from the backup store (${p.store})` }),
  BACKUP_FILE_WRONG_SIZE: entry<{ key: string; size: number; recorded: number }>({ status: 400, fault: "badRequest", message: (p) => `the backup file '${p.key}' has ${p.size} bytes where its record says ${p.recorded}: it is damaged and cannot be used` }),
  BACKUP_FILE_DAMAGED: entry<{ key: string; sha256: string; recorded: string }>({ status: 400, fault: "badRequest", message: (p) => `the backup file '${p.key}' does not match its checksum (sha256 ${p.sha256.slice(0, 16)}… where its record says ${p.recorded.slice(0, 16)}…): it is damaged and cannot be used` }),
  BACKUP_FILE_MISMATCH: entry<{ key: string }>({ status: 400, fault: "badRequest", message: (p) => `the backup file '${p.key}' does not match its checksum: it is damaged and cannot be used` }),
  BACKUP_FILE_UNDECRYPTABLE: entry<{ key: string; reason: string }>({ status: 400, fault: "badRequest", message: (p) => `the backup file '${p.key}' cannot be decrypted: ${p.reason}` }),
  BACKUP_KEY_NOT_GIVEN: entry<{ key: string; keyId: string }>({ status: 409, fault: "conflict", message: (p) => `the backup file '${p.key}' is encrypted with data key ${p.keyId}, which was not given to this node` }),
  BACKUP_KEY_OTHER: entry<{ key: string; keyId: string; given: string }>({ status: 400, fault: "badRequest", message: (p) => `the backup file '${p.key}' is encrypted with data key ${p.keyId}, not ${p.given}` }),
  BACKUP_KEYS_ABSENT: entry<{ key: string }>({ status: 409, fault: "conflict", message: (p) => `the backup file '${p.key}' is encrypted, and this node has no backup keys` }),
  BACKUP_MASTER_KEY_MISSING: entry<{ key: string; masterKey: string; reason: string }>({ status: 409, fault: "conflict", message: (p) => `the backup file '${p.key}' was encrypted with master key '${p.masterKey}', which this node no longer has: ${p.reason}` }),
  BACKUP_KEY_UNOPENED: entry<{ key: string }>({ status: 409, fault: "conflict", message: (p) => `the backup file '${p.key}' is encrypted and no key opens it here` }),
  ROOT_NOT_ENABLED: entry<{ id: string }>({ status: 404, fault: "itemNotFound", message: (p) => `Root is not enabled on instance ${p.id}.` }),
  CONFIGURATION_NOT_SUPPORTED: entry<{ datastore: string; version: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `Configuration groups are not supported for datastore ${p.datastore} ${p.version}.` }),
  UNKNOWN_PARAMETER: entry<{ name: string; datastore: string; version: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `The configuration parameter '${p.name}' is not supported for ${p.datastore} ${p.version}. Run 'openstack database configuration parameter list ${p.version} --datastore ${p.datastore}' to see the parameters.` }),
  INVALID_PARAMETER: entry<{ name: string; rule: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `The value of configuration parameter '${p.name}' ${p.rule}.` }),
  CONFIGURATION_IN_USE: entry<{ id: string; count: number }>({ status: 400, fault: "badRequest", message: (p) => `Configuration group ${p.id} is attached to ${p.count} instance(s); detach it first.` }),
  CONFIGURATION_MISMATCH: entry<{ id: string; configuration: string; instance: string }>({ status: 400, fault: "badRequest", message: (p) => `Configuration group ${p.id} is for ${p.configuration}, but the instance runs ${p.instance}.` }),
  CONFIGURATION_ATTACHED: entry<{ id: string; configuration: string }>({ status: 400, fault: "badRequest", message: (p) => `Instance ${p.id} already has configuration group ${p.configuration} attached; detach it first.` }),
  BACKUP_RUNNING: entry<{ id: string; backupId: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `Instance ${p.id} has backup ${p.backupId} running; wait until it is COMPLETED or FAILED.` }),
  BACKUP_BUSY: entry<{ id: string; status: string }>({ status: 422, fault: "unprocessableEntity", message: (p) => `Backup ${p.id} is ${p.status}; wait until it is COMPLETED or FAILED before deleting it.` }),
  BACKUP_NOT_COMPLETED: entry<{ id: string; status: string }>({ status: 409, fault: "conflict", message: (p) => `Backup ${p.id} is ${p.status}; only a COMPLETED backup can be restored.` }),
  BACKUP_CORRUPT: entry<{ id: string; detail: string }>({ status: 409, fault: "conflict", message: (p) => `Backup ${p.id} failed its checksum check and cannot be used: ${p.detail}` }),
  BACKUP_MASTER_KEY_GONE: entry<{ id: string; masterKey: string }>({ status: 409, fault: "conflict", message: (p) => `Backup ${p.id} was encrypted with master key '${p.masterKey}', which this Hoard no longer has; it cannot be restored until that key is back in the backup keys file (HOARD_BACKUP_KEYS_FILE).` }),
  BACKUP_DATA_KEY_GONE: entry<{ id: string; keyId: string }>({ status: 409, fault: "conflict", message: (p) => `Backup ${p.id} was encrypted with data key ${p.keyId}, which this Hoard no longer has; it cannot be restored.` }),
  BACKUP_DATASTORE_MISMATCH: entry<{ id: string; backup: string; requested: string }>({ status: 400, fault: "badRequest", message: (p) => `Backup ${p.id} is of ${p.backup}, but ${p.requested} was requested; restore it with the backup's datastore and version (or leave them out).` }),
  BACKUP_TOO_LARGE: entry<{ id: string; needGb: number; sizeGb: number }>({ status: 403, fault: "forbidden", message: (p) => `Backup ${p.id} holds more data than a ${p.sizeGb} GB volume takes; ask for a volume of at least ${p.needGb} GB.` }),
  BACKUP_OF_OTHER_INSTANCE: entry<{ id: string; instance: string }>({ status: 400, fault: "badRequest", message: (p) => `Backup ${p.id} is not a backup of instance ${p.instance}; roll back to one of its own backups (openstack database backup list --instance-id ${p.instance}).` }),
  NOT_IMPLEMENTED: entry<{ operation: string; datastore: string }>({ status: 501, fault: "notImplemented", message: (p) => `${p.operation} is not supported for datastore ${p.datastore}.` }),
  UNAVAILABLE: entry<{ part: string }>({ status: 503, fault: "serviceUnavailable", retryable: true, message: (p) => `${p.part} is unavailable; retry in a few seconds.` }),
  GUEST_FAILED: entry<{ detail: string }>({ status: 500, fault: "instanceFault", message: (p) => p.detail }),
  INTERNAL: entry<{ ref: string }>({ status: 500, fault: "instanceFault", message: (p) => `Internal error (reference ${p.ref}); the operator's log has the details.` }),
} as const;

export type ErrorCode = keyof typeof catalogue;
type Params<C extends ErrorCode> = Parameters<(typeof catalogue)[C]["message"]>[0];

/** An error from the catalogue. `retryable` tells the runtime whether redelivery can help. */
export class HoardError extends Error {
  readonly status: number;
  readonly fault: Fault;
  readonly retryable: boolean;
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    const e = catalogue[code] as Entry<unknown>;
    this.status = e.status;
    this.fault = e.fault;
    this.retryable = e.retryable ?? false;
  }

  toJSON(): SerializedError {
    return { code: this.code, message: this.message };
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
}

/** Builds a catalogued error: `fail("NOT_FOUND", { what: "Instance", id })`. */
export function fail<C extends ErrorCode>(code: C, ...params: Params<C> extends void ? [] : [Params<C>]): HoardError {
  return new HoardError(code, messageOf(code, params[0]));
}

/** The catalogue's message for `code` with its parameters. */
function messageOf(code: ErrorCode, params: unknown): string {
  return (catalogue[code] as Entry<unknown>).message(params);
}

/**
 * An action a guest refused for a reason the user can act on (the database does not exist, the user already
 * exists …), raised by an engine or the tracker with a catalogue code and its parameters. It crosses NATS as
 * `{code, message}` (see events' GuestCallReply), so its message names the object and never a secret. Any
 * other error from a strategy is a failure of the service.
 */
export class GuestActionError extends HoardError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    this.name = "GuestActionError";
  }
}

/** Builds a guest refusal from the catalogue: `refuse("USER_NOT_FOUND", { name, host })`. */
export function refuse<C extends ErrorCode>(code: C, ...params: Params<C> extends void ? [] : [Params<C>]): GuestActionError {
  return new GuestActionError(code, messageOf(code, params[0]));
}

/** Rebuilds an error that crossed NATS as `{code, message}` (a code this catalogue lacks is INTERNAL). */
export function fromSerialized(e: { code: string; message: string }): HoardError {
  return new HoardError(e.code in catalogue ? (e.code as ErrorCode) : "INTERNAL", e.message);
}

/** An error inside the pipeline that a later retry can fix (a guest still starting, a lock held). */
export class RetryableError extends Error {
  constructor(message: string, readonly delayMs = 1000) {
    super(message);
  }
}

/**
 * The VALIDATION error for zod's issues, rendered one way: `path: message` per issue (`at` is where the
 * checked value sits in the request, e.g. its envelope key), the message alone for the value as a whole.
 */
export function validationError(issues: readonly { path: readonly PropertyKey[]; message: string }[], at: readonly PropertyKey[] = []): HoardError {
  const detail = issues
    .map((i) => {
      const path = [...at, ...i.path].map(String).join(".");
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
  return fail("VALIDATION", { detail });
}
