/** The contract between all parts of Hoard: every subject, event type, payload and answer schema. */
export * from "./envelope.js";
export * from "./request-parts.js";
export * from "./payloads.js";
export * from "./catalogue.js";
export * from "./jetstream.js";
export * from "./guest-shapes.js";
export * from "./guest-calls.js";
export * from "./instances.js";
export * from "./datastores.js";
export * from "./quotas.js";
export * from "./configurations.js";
export * from "./guests.js";
export * from "./subscriptions.js";
export * from "./backups.js";
export * from "./requests.js";
export * from "./permissions.js";
