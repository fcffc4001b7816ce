import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { QUOTA_RESOURCES, setQuotas, type QuotaResource } from "../../store/index.js";

export default defineRequest("quota-update", {
  description: "Sets a project's quotas (admin only); -1 means unlimited.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ caller, project, quotas }, { deps }) {
    if (!caller.roles.includes("admin")) throw fail("ADMIN_REQUIRED");
    const values: Partial<Record<QuotaResource, number>> = {};
    for (const [name, value] of Object.entries(quotas)) {
      if (!(QUOTA_RESOURCES as readonly string[]).includes(name)) throw fail("UNKNOWN_QUOTA_RESOURCE", { name });
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < -1) throw fail("INVALID_VALUE", { what: `quota '${name}'`, rule: "use a whole number, or -1 for unlimited" });
      values[name as QuotaResource] = value;
    }
    await deps.db.transaction((trx) => setQuotas(trx, project, values));
    return values;
  },
});
