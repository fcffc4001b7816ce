import { defineRequest } from "../../runtime/function.js";
import { listFlavors } from "../../store/index.js";

export default defineRequest("flavor-list", {
  description: "Lists the flavors (RAM and vCPUs an instance may have).",
  timeoutMs: 5_000,
  memoryMb: 128,
  handle: async (_data, { deps }) => listFlavors(deps.db),
});
