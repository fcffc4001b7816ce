import { CatalogListRequest, type FlavorRecord } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { listFlavors } from "../../store/index.js";

export default defineFunction({
  name: "flavor-list",
  description: "Lists the flavors (RAM and vCPUs an instance may have).",
  trigger: { kind: "request" },
  input: CatalogListRequest,
  timeoutMs: 5_000,
  memoryMb: 128,
  handle: async (_data, { deps }): Promise<FlavorRecord[]> => listFlavors(deps.db),
});
