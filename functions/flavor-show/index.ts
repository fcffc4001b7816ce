import { fail } from "../../errors/index.js";
import { FlavorShowRequest, type FlavorRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { findFlavor } from "../../store/index.js";

export default defineFunction({
  name: "flavor-show",
  description: "Shows one flavor by id.",
  trigger: { kind: "request" },
  input: FlavorShowRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ flavorId }, { deps }): Promise<FlavorRecord> {
    const f = await findFlavor(deps.db, flavorId);
    if (!f) throw fail("NOT_FOUND", { what: "Flavor", id: flavorId });
    return f;
  },
});
