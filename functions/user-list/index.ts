import type { UserInfo } from "../../datastores/contract.js";
import { GuestListRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { callGuest, pageByKey, runningGuest } from "../guest-access.js";

export default defineFunction({
  name: "user-list",
  description: "Lists an instance's users (name, host, databases) by name@host, a page at a time.",
  trigger: { kind: "request" },
  input: GuestListRequest,
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, query }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "users");
    const all = await callGuest<UserInfo[]>(deps, target, { action: "user.list" });
    return pageByKey(all, (u) => `${u.name}@${u.host}`, query, deps.config.pageSize);
  },
});
