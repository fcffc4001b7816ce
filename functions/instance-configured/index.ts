import { workEvents } from "../../events/index.js";
import { settleConfigure } from "../../store/index.js";
import { defineWorkFunction } from "../work-function.js";

export default defineWorkFunction(workEvents.guestConfigured, {
  name: "instance-configured",
  description: "A tracker applied new settings to a guest: an earlier configuration fault is cleared, unless a newer configuration has been asked for since.",
  async apply(trx, data) {
    await settleConfigure(trx, data, { fault_message: null, fault_at: null });
  },
});
