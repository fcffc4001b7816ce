import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { listDrift } from "../../store/index.js";

export default defineRequest("drift-list", {
  description: "What the reconciler found and repaired (orphaned guests, leftover volumes, missing guests, lost commands), newest first; admins only.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, limit }, { deps }) {
    if (!caller.roles.includes("admin")) throw fail("ADMIN_REQUIRED");
    const rows = await listDrift(deps.db, limit);
    const time = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
    return rows.map((r) => ({
      id: Number(r.id),
      kind: String(r.kind),
      instance_id: String(r.instance_id),
      node: String(r.node),
      project_id: (r.project_id as string | null) ?? null,
      detail: String(r.detail),
      attempts: Number(r.attempts),
      found_at: time(r.found_at)!,
      acted_at: time(r.acted_at)!,
      resolved_at: time(r.resolved_at),
    }));
  },
});
