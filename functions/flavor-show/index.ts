import { fail } from "../../errors/index.js";
import { defineRequest } from "../../runtime/function.js";
import { findFlavor } from "../../store/index.js";

export default defineRequest("flavor-show", {
  description: "Shows one flavor by id.",
  timeoutMs: 5_000,
  memoryMb: 128,
  async handle({ flavorId }, { deps }) {
    const f = await findFlavor(deps.db, flavorId);
    if (!f) throw fail("NOT_FOUND", { what: "Flavor", id: flavorId });
    return f;
  },
});
