import { LosslessNumber } from "lossless-json";
import type { BackupRecord, BackupScheduleRecord, ConfigValue, ConfigurationRecord, DatastoreRecord, DatastoreVersionRecord, FlavorRecord, InstanceRecord, ParameterInfo } from "../events/index.js";

/** Where links point: Trove builds them from the Host header, always as https. */
export interface LinkBase {
  host: string;
  project: string;
}

const links = (b: LinkBase, collection: string, id: string) => [
  { href: `https://${b.host}/v1.0/${b.project}/${collection}/${id}`, rel: "self" },
  { href: `https://${b.host}/${collection}/${id}`, rel: "bookmark" },
];

/** Trove's flavor: `id` is an integer only when the id is all digits; `str_id` always. */
export function flavorView(f: FlavorRecord, b: LinkBase) {
  return {
    id: /^[1-9][0-9]*$/.test(f.id) ? Number(f.id) : null,
    str_id: f.id,
    name: f.name,
    ram: f.ramMb,
    vcpus: f.vcpus,
    disk: f.diskGb,
    ephemeral: f.ephemeralGb,
    links: links(b, "flavors", f.id),
  };
}

/** A datastore version; `capabilities` is Hoard's addition (what operations the engine supports). */
export function versionView(v: DatastoreVersionRecord, b: LinkBase) {
  return {
    id: v.id,
    name: v.name,
    datastore: v.datastoreId,
    version: v.number,
    active: v.active,
    capabilities: v.capabilities,
    links: links(b, "datastores/versions", v.id),
  };
}

export function datastoreView(d: DatastoreRecord, b: LinkBase) {
  return {
    id: d.id,
    name: d.name,
    links: links(b, "datastores", d.id),
    ...(d.defaultVersionId && d.versions.some((v) => v.id === d.defaultVersionId) ? { default_version: d.defaultVersionId } : {}),
    versions: d.versions.map((v) => ({ id: v.id, name: v.name, version: v.number, links: links(b, "datastores/versions", v.id) })),
  };
}

/** An instance as in Trove's list (summary) or show (detail). Each address also carries its `port` (Hoard's addition). */
export function instanceView(i: InstanceRecord, b: LinkBase, detail: boolean) {
  const addresses = [
    ...(i.address ? [{ address: i.address.address, type: "private", network: i.networkId, port: i.address.port }] : []),
    // A public instance's published address (netns driver), as Trove lists a public (floating) address.
    ...(i.published ? [{ address: i.published.address, type: "public", port: i.published.port }] : []),
  ];
  const summary = {
    id: i.id,
    name: i.name,
    status: i.status,
    operating_status: i.operatingStatus,
    links: links(b, "instances", i.id),
    flavor: { id: i.flavorId, links: links(b, "flavors", i.flavorId) },
    datastore: { type: i.datastore.type, version: i.datastore.version },
    region: "RegionOne",
    access: i.access,
    volume: { size: i.volumeSizeGb },
    ip: addresses.map((a) => a.address),
    addresses,
  };
  if (!detail) return summary;
  return {
    ...summary,
    datastore: { ...summary.datastore, version_number: i.datastore.versionNumber },
    created: i.created,
    updated: i.updated,
    service_status_updated: i.serviceUpdated,
    availability_zone: i.availabilityZone,
    ...(i.fault ? { fault: { message: i.fault.message, created: i.fault.created, details: null } } : {}),
    auto_restart: { enabled: i.autoRestart.enabled, restarts: i.autoRestart.restarts },
    // Hoard's addition: TLS to the guest; ca_url gives the CA certificate that verifies it.
    tls: { mode: i.tls.mode, expires: i.tls.expires, ca_url: `https://${b.host}/v1.0/${b.project}/instances/${i.id}/ca` },
    ...(i.configuration ? { configuration: { id: i.configuration.id, name: i.configuration.name, links: links(b, "configurations", i.configuration.id) } } : {}),
  };
}

/** A configuration value for an exact JSON body: numbers as their decimal text, unrounded. */
function exactValue(v: ConfigValue): unknown {
  return typeof v === "object" ? new LosslessNumber(v.number) : v;
}

export function configurationView(c: ConfigurationRecord, b: LinkBase, detail: boolean) {
  const summary = {
    id: c.id,
    name: c.name,
    description: c.description,
    created: c.created,
    updated: c.updated,
    datastore_name: c.datastoreName,
    datastore_version_id: c.datastoreVersionId,
    datastore_version_name: c.datastoreVersionName,
    datastore_version_number: c.datastoreVersionNumber,
    links: links(b, "configurations", c.id),
  };
  if (!detail) return summary;
  return { ...summary, instance_count: c.instanceCount, values: Object.fromEntries(Object.entries(c.values).map(([k, v]) => [k, exactValue(v)])) };
}

/** Trove's parameter view: min and max only when given and not zero; bounds exact. */
export function parameterView(p: ParameterInfo, versionId: string) {
  return {
    name: p.name,
    datastore_version_id: versionId,
    restart_required: p.restartRequired,
    type: p.type,
    ...(p.min !== undefined && Number(p.min) !== 0 ? { min: new LosslessNumber(p.min) } : {}),
    ...(p.max !== undefined && Number(p.max) !== 0 ? { max: new LosslessNumber(p.max) } : {}),
    ...(p.values ? { values: p.values } : {}),
    description: p.description,
  };
}

const GB = 1024 ** 3;

/**
 * A backup as Trove shows it (`size` in GB), with Hoard's additions: how long writes were blocked
 * (`lock_ms`), the strategy, the sha256 of the stored (encrypted) file, how it is encrypted and whether its
 * keys are still there, why it failed, and the schedule that made it.
 */
export function backupView(k: BackupRecord) {
  const a = k.artifact;
  return {
    id: k.id,
    name: k.name,
    description: k.description,
    locationRef: a ? a.location : null,
    instance_id: k.instanceId,
    created: k.created,
    updated: k.updated,
    size: a ? Number((a.sizeBytes / GB).toFixed(6)) : null,
    status: k.status,
    parent_id: k.parentId,
    project_id: k.project,
    ...(k.datastore ? { datastore: { type: k.datastore.type, version: k.datastore.version, version_id: k.datastore.versionId } } : {}),
    lock_ms: a ? a.lockMs : null,
    strategy: a ? a.strategy : null,
    checksum: a ? a.checksum : null,
    data_size: a ? a.dataBytes : null,
    ...(a?.notes ? { notes: a.notes } : {}),
    encrypted: k.encryption !== null,
    ...(k.encryption ? { encryption: { cipher: k.encryption.cipher, data_key_id: k.encryption.keyId, master_key_id: k.encryption.masterKeyId, restorable: k.encryption.problem === null, ...(k.encryption.problem ? { reason: k.encryption.problem } : {}) } } : {}),
    fail_reason: k.failReason,
    schedule_id: k.scheduleId,
  };
}

/** A backup schedule (Hoard's addition). */
export function backupScheduleView(s: BackupScheduleRecord, b: LinkBase) {
  return {
    id: s.id,
    instance_id: s.instanceId,
    name: s.name,
    description: s.description,
    cron: s.cron,
    timezone: s.timezone,
    retention: s.retention,
    next_run: s.nextRun,
    last_run: s.lastRun,
    last_backup_id: s.lastBackupId,
    last_error: s.lastError,
    project_id: s.project,
    created: s.created,
    updated: s.updated,
    links: [{ href: `https://${b.host}/v1.0/${b.project}/backup_schedules/${s.id}`, rel: "self" }],
  };
}
