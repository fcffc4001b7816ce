import { readFileSync } from "node:fs";
import { z } from "zod";
import { fail } from "../errors/index.js";
import type { Caller } from "../events/index.js";

const TokensFile = z.object({
  tokens: z.record(z.string(), z.object({ project: z.string(), roles: z.array(z.string()).default([]) })),
});

const PROJECT = /^[A-Za-z0-9_-]{1,64}$/;

/** Decides who is calling. Without a tokens file the path names the project (what `--os-auth-type none` sends). */
export type Authenticate = (pathProject: string, token: string | undefined, host: string) => Caller;

export function authenticator(tokensFile: string | undefined): Authenticate {
  const tokens = tokensFile ? TokensFile.parse(JSON.parse(readFileSync(tokensFile, "utf8"))).tokens : null;
  return (pathProject, token, host) => {
    if (!PROJECT.test(pathProject)) {
      throw fail("INVALID_VALUE", { what: "project id in the path", rule: "use 1 to 64 letters, digits, '_' or '-'" });
    }
    if (!tokens) return { project: pathProject, roles: [], host };
    const identity = token ? tokens[token] : undefined;
    if (!identity) throw fail("AUTH_REQUIRED");
    if (identity.project !== pathProject) throw fail("WRONG_PROJECT", { project: identity.project });
    return { project: identity.project, roles: identity.roles, host };
  };
}
