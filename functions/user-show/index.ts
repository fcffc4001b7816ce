import type { UserInfo } from "../../datastores/contract.js";
import { UserRefRequest } from "../../events/index.js";
import { defineFunction } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { existingUser } from "../user-ref.js";

export default defineFunction({
  name: "user-show",
  description: "Shows one user of an instance with its databases (404 when it does not exist).",
  trigger: { kind: "request" },
  input: UserRefRequest,
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, user }, { deps }): Promise<UserInfo> {
    const target = await runningGuest(deps, caller, instanceId, "users");
    return existingUser(await callGuest<UserInfo[]>(deps, target, { action: "user.list" }), target, user);
  },
});
