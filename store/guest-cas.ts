import type { Queryable } from "./db.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Keeps the CA certificate a node's tracker reported; writes only when it changed. */
export async function recordGuestCa(q: Queryable, node: string, certificate: string): Promise<void> {
  await q.raw(
    `insert into guest_cas (node, certificate) values (?, ?)
     on conflict (node) do update set certificate = excluded.certificate, updated_at = now()
     where guest_cas.certificate <> excluded.certificate`,
    [node, certificate],
  );
}

/**
 * The CA certificate that verifies a live instance of the project (its node's), with the instance's TLS
 * mode; null when there is no such instance, certificate null while its node has reported none.
 */
export async function guestCaOf(q: Queryable, project: string, instanceId: string): Promise<{ certificate: string | null; tlsMode: string } | null> {
  if (!UUID.test(instanceId)) return null;
  const row: { certificate: string | null; tls_mode: string } | undefined = await q("instances as i")
    .leftJoin("guest_cas as c", "c.node", "i.node")
    .where({ "i.id": instanceId, "i.project_id": project })
    .whereNull("i.deleted_at")
    .first("c.certificate", "i.tls_mode");
  return row ? { certificate: row.certificate, tlsMode: row.tls_mode } : null;
}
