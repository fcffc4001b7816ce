import { defineRequest } from "../../runtime/function.js";
import { callGuest, pageByKey, runningGuest } from "../guest-access.js";

export default defineRequest("user-list", {
  description: "Lists an instance's users (name, host, databases) by name@host, a page at a time.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, query }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const all = await callGuest(deps, target, { action: "user.list" });
    return pageByKey(all, (u) => `${u.name}@${u.host}`, query, deps.config.pageSize);
  },
});
