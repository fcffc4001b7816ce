import type { Knex } from "knex";
import type { Db } from "./db.js";

interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
}

/** Hoard's schema, in order. Append only: a migration that has run is never edited. */
const migrations: Migration[] = [
  {
    name: "001_foundation",
    async up(db) {
      await db.schema.createTable("datastores", (t) => {
        t.uuid("id").primary();
        t.text("name").notNullable().unique();
        t.text("manager").notNullable();
        t.uuid("default_version_id");
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      await db.schema.createTable("datastore_versions", (t) => {
        t.uuid("id").primary();
        t.uuid("datastore_id").notNullable().references("datastores.id");
        t.text("name").notNullable();
        t.text("number").notNullable();
        t.boolean("active").notNullable().defaultTo(true);
        t.unique(["datastore_id", "name"]);
      });
      await db.schema.createTable("flavors", (t) => {
        t.text("id").primary();
        t.text("name").notNullable().unique();
        t.integer("ram_mb").notNullable();
        t.integer("vcpus").notNullable();
        t.integer("disk_gb").notNullable().defaultTo(0);
        t.integer("ephemeral_gb").notNullable().defaultTo(0);
      });
      await db.schema.createTable("networks", (t) => {
        t.text("id").primary();
        t.text("project_id").notNullable();
        t.text("node").notNullable();
        t.boolean("is_default").notNullable().defaultTo(false);
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      // One default network per project, created on first use.
      await db.raw("create unique index networks_default_per_project on networks (project_id) where is_default");
      await db.schema.createTable("instances", (t) => {
        t.uuid("id").primary();
        t.text("project_id").notNullable();
        t.text("name").notNullable();
        t.text("flavor_id").notNullable().references("flavors.id");
        t.uuid("datastore_version_id").notNullable().references("datastore_versions.id");
        t.text("network_id").notNullable().references("networks.id");
        t.text("node").notNullable();
        t.text("availability_zone");
        t.jsonb("access").notNullable().defaultTo("{}");
        // Trove's split: the task (what the control plane is doing), the server (is the guest there),
        // the service (what the last heartbeat said). `status`/`operating_status` are derived from them.
        t.text("task").notNullable();
        t.text("server_status").notNullable();
        t.text("service_status").notNullable();
        t.timestamp("service_updated_at", { useTz: true });
        t.text("address");
        t.integer("port");
        t.text("fault_message");
        t.timestamp("fault_at", { useTz: true });
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("deleted_at", { useTz: true });
      });
      await db.raw("create index instances_live_by_project on instances (project_id, id) where deleted_at is null");
      await db.schema.createTable("volumes", (t) => {
        t.uuid("id").primary();
        t.uuid("instance_id").notNullable().references("instances.id");
        t.integer("size_gb").notNullable();
        t.text("node").notNullable();
        t.text("status").notNullable(); // creating | in-use | deleting | deleted
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("deleted_at", { useTz: true });
      });
      await db.raw("create unique index volumes_live_per_instance on volumes (instance_id) where deleted_at is null");
      // Events written in the same transaction as the state they announce; the relay publishes and deletes them.
      await db.schema.createTable("outbox", (t) => {
        t.bigIncrements("seq").primary();
        t.uuid("event_id").notNullable().unique();
        t.text("subject").notNullable();
        t.jsonb("event").notNullable();
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      // Each consumer records the events it has applied, so a redelivery repeats nothing.
      await db.schema.createTable("processed_events", (t) => {
        t.text("consumer").notNullable();
        t.text("event_id").notNullable();
        t.timestamp("processed_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.primary(["consumer", "event_id"]);
      });
    },
  },
  {
    name: "002_configuration_groups",
    async up(db) {
      await db.schema.createTable("configurations", (t) => {
        t.uuid("id").primary();
        t.text("project_id").notNullable();
        t.text("name").notNullable();
        t.text("description");
        t.uuid("datastore_version_id").notNullable().references("datastore_versions.id");
        // Exact JSON text: integers beyond 2^53 must survive, so no jsonb (the driver would parse it to doubles).
        t.text("values_json").notNullable();
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("deleted_at", { useTz: true });
        t.index(["project_id"]);
      });
      await db.schema.alterTable("instances", (t) => {
        t.uuid("configuration_id").references("configurations.id");
      });
    },
  },
  {
    name: "003_lifecycle_and_quotas",
    async up(db) {
      await db.schema.alterTable("instances", (t) => {
        t.boolean("auto_restart").notNullable().defaultTo(false);
        t.integer("auto_restarts").notNullable().defaultTo(0);
      });
      // A project's own limits; resources without a row use the configured defaults.
      await db.schema.createTable("quotas", (t) => {
        t.text("project_id").notNullable();
        t.text("resource").notNullable();
        t.integer("hard_limit").notNullable();
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.primary(["project_id", "resource"]);
      });
    },
  },
  {
    name: "004_subscriptions",
    async up(db) {
      // A tenant's webhooks. The secret is kept because every delivery is signed with it; the API shows it once.
      await db.schema.createTable("subscriptions", (t) => {
        t.uuid("id").primary();
        t.text("project_id").notNullable();
        t.text("url").notNullable();
        t.specificType("event_types", "text[]").notNullable();
        t.text("secret").notNullable();
        t.text("description");
        // The sequence of the subscription's last recorded delivery; deliveries go out in this order.
        t.bigInteger("last_seq").notNullable().defaultTo(0);
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("deleted_at", { useTz: true });
      });
      await db.raw("create index subscriptions_live_by_project on subscriptions (project_id, id) where deleted_at is null");
      await db.schema.createTable("deliveries", (t) => {
        t.bigIncrements("id").primary();
        t.uuid("subscription_id").notNullable().references("subscriptions.id");
        t.bigInteger("seq").notNullable();
        t.text("event_id").notNullable();
        t.text("event_type").notNullable();
        // json, not jsonb: the envelope is sent with its keys in the order it was published.
        t.json("event").notNullable();
        t.text("status").notNullable().defaultTo("pending");
        t.integer("attempts").notNullable().defaultTo(0);
        t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("last_attempt_at", { useTz: true });
        t.integer("last_status_code");
        t.text("last_error");
        t.timestamp("delivered_at", { useTz: true });
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        // A redelivered event is recorded once per subscription.
        t.unique(["subscription_id", "event_id"]);
        t.unique(["subscription_id", "seq"]);
      });
      await db.raw("alter table deliveries add constraint deliveries_status check (status in ('pending', 'delivered', 'failed'))");
      // The deliverer's question: each subscription's oldest pending delivery.
      await db.raw("create index deliveries_pending on deliveries (subscription_id, seq) where status = 'pending'");
    },
  },
  {
    name: "005_published_addresses",
    async up(db) {
      // A public instance's address and port on its node (netns network driver), shown beside its own.
      await db.schema.alterTable("instances", (t) => {
        t.text("public_address");
        t.integer("public_port");
      });
    },
  },
  {
    name: "006_backups",
    async up(db) {
      await db.schema.createTable("backups", (t) => {
        t.uuid("id").primary();
        t.text("project_id").notNullable();
        // Instances are soft-deleted, so a backup keeps its instance's row (Trove keeps backups of deleted instances).
        t.uuid("instance_id").notNullable().references("instances.id");
        t.text("name").notNullable();
        t.text("description");
        t.text("status").notNullable(); // NEW | BUILDING | COMPLETED | FAILED | DELETING | DELETE_FAILED
        t.text("fail_reason");
        t.uuid("datastore_version_id").notNullable().references("datastore_versions.id");
        // The node whose tracker made (and holds) the backup file.
        t.text("node").notNullable();
        t.bigInteger("size_bytes");
        // What the tracker reported (BackupArtifact); null until COMPLETED.
        t.jsonb("artifact");
        t.uuid("parent_id");
        t.uuid("schedule_id");
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      await db.raw("alter table backups add constraint backups_status check (status in ('NEW', 'BUILDING', 'COMPLETED', 'FAILED', 'DELETING', 'DELETE_FAILED'))");
      // At most one backup runs per instance: a second create loses the race here even if its checks passed.
      await db.raw("create unique index backups_running_per_instance on backups (instance_id) where status in ('NEW', 'BUILDING')");
      await db.raw("create index backups_by_project on backups (project_id, created_at desc, id)");
      await db.raw("create index backups_by_schedule on backups (schedule_id, created_at) where schedule_id is not null");
      await db.schema.createTable("backup_schedules", (t) => {
        t.uuid("id").primary();
        t.text("project_id").notNullable();
        t.uuid("instance_id").notNullable().references("instances.id");
        t.text("name").notNullable();
        t.text("description");
        t.text("cron").notNullable();
        t.text("timezone").notNullable();
        t.integer("retention").notNullable();
        // The slot a run claims by compare-and-set, so two runtimes never fire one slot twice.
        t.timestamp("next_run_at", { useTz: true });
        t.timestamp("last_run_at", { useTz: true });
        t.uuid("last_backup_id");
        t.text("last_error");
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("deleted_at", { useTz: true });
      });
      await db.raw("create index backup_schedules_live_by_project on backup_schedules (project_id, id) where deleted_at is null");
      await db.raw("create index backup_schedules_due on backup_schedules (next_run_at) where deleted_at is null");
    },
  },
  {
    name: "007_reconciliation",
    async up(db) {
      // Each node's latest heartbeat as a whole: the reconciler compares its guest list with the rows.
      await db.schema.createTable("node_heartbeats", (t) => {
        t.text("node").primary();
        t.timestamp("at", { useTz: true }).notNullable();
        t.jsonb("guests").notNullable();
        t.jsonb("leftovers").notNullable().defaultTo("[]");
      });
      // Drift the reconciler found and what it did about it: the operator's record (GET /mgmt/drift).
      await db.schema.createTable("drift_repairs", (t) => {
        t.bigIncrements("id").primary();
        t.text("kind").notNullable();
        t.text("instance_id").notNullable();
        t.text("node").notNullable();
        t.text("project_id");
        t.text("detail").notNullable();
        t.integer("attempts").notNullable().defaultTo(1);
        t.timestamp("found_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("acted_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("resolved_at", { useTz: true });
      });
      // One open record per drift: a repeated sweep counts an attempt instead of adding a row.
      await db.raw("create unique index drift_repairs_open on drift_repairs (kind, instance_id, node) where resolved_at is null");
    },
  },
  {
    name: "008_configure_order",
    async up(db) {
      // When the latest configuration change of an instance was asked for: its tracker's answer to an older
      // one (a failure reported after a newer success) no longer sets or clears the instance's fault.
      await db.schema.alterTable("instances", (t) => {
        t.timestamp("configure_requested_at", { useTz: true });
      });
    },
  },
  {
    name: "009_guest_tls",
    async up(db) {
      // The TLS mode an instance asked for, then the one its tracker put in force ("off": an engine that cannot
      // offer TLS beside plaintext), and when its certificate ends (renewals move it; heartbeats report it).
      // Instances made before TLS have no certificate: "off"; new ones are "enabled" unless they ask otherwise.
      await db.schema.alterTable("instances", (t) => {
        t.text("tls_mode").notNullable().defaultTo("off");
        t.timestamp("tls_expires", { useTz: true });
      });
      await db.raw("alter table instances alter column tls_mode set default 'enabled'");
      // The CA certificate (public) that verifies each node's guests, as its tracker last reported it.
      await db.schema.createTable("guest_cas", (t) => {
        t.text("node").primary();
        t.text("certificate").notNullable();
        t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
    },
  },
  {
    name: "010_backup_keys",
    async up(db) {
      // Each project's data keys, only ever wrapped by a master key the trackers hold (never the key itself).
      // A backup names its data key in its artifact (encryption.keyId); rotation rewrites `wrapped` and
      // `master_key_id` here and nothing in the backup store.
      await db.schema.createTable("backup_keys", (t) => {
        t.uuid("key_id").primary();
        t.text("project_id").notNullable();
        t.text("master_key_id").notNullable();
        t.text("wrapped").notNullable();
        // Why the key cannot be opened (its master key is gone), as a tracker or a rotation last found.
        t.text("unusable");
        t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp("rewrapped_at", { useTz: true });
      });
      await db.raw("create index backup_keys_by_project on backup_keys (project_id, created_at desc)");
    },
  },
];

const source: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => ({ up: m.up, down: async () => {} }),
};

/**
 * Brings the schema up to date, then runs `after` (the seed) under the same lock. Safe to run from several
 * processes at once: the first takes a Postgres advisory lock and the others wait for it (knex's own lock
 * makes a second process fail instead of wait).
 */
export async function migrate(db: Db, after: () => Promise<void> = async () => {}): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw("select pg_advisory_xact_lock(hashtext('hoard:migrate'))");
    await db.migrate.latest({ migrationSource: source, tableName: "hoard_migrations" });
    await after();
  });
}
