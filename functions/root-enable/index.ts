import { randomBytes } from "node:crypto";
import { defineRequest } from "../../runtime/function.js";
import { callGuest, runningGuest } from "../guest-access.js";
import { password } from "../guest-input.js";

/** Trove generates 36 characters; these are letters and digits only, so any client can paste them. */
function generatePassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  return [...randomBytes(36)].map((b) => alphabet[b % alphabet.length]).join("");
}

export default defineRequest("root-enable", {
  description: "Gives the tenant the engine's superuser with a generated (or the given) password, returned once.",
  timeoutMs: 15_000,
  memoryMb: 128,
  async handle({ caller, instanceId, password: given }, { deps }) {
    const target = await runningGuest(deps, caller, instanceId, "root");
    const secret = given === undefined ? generatePassword() : password(given, target.datastore.rules, "root password");
    await callGuest(deps, target, { action: "root.enable", password: secret });
    return { name: target.datastore.rootUser ?? "root", password: secret };
  },
});
