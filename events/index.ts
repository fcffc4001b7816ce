/** The contract between all parts of Hoard: every subject, event type and payload schema. */
export * from "./envelope.js";
export * from "./payloads.js";
export * from "./catalogue.js";
export * from "./records.js";
export * from "./jetstream.js";
export * from "./guest-shapes.js";
export * from "./guest-calls.js";
export * from "./subscriptions.js";
export * from "./backups.js";
export * from "./permissions.js";
