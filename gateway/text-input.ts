/**
 * Postgres text cannot hold U+0000 (and no engine takes it in a name), so a NUL anywhere in a request's
 * path, query or JSON body is refused at the door instead of failing deep inside a function.
 */
import { fail, type HoardError } from "../errors/index.js";

/** Whether a string, or any key or string inside an object or array, holds U+0000. */
export function holdsNul(value: unknown): boolean {
  // Iterative: a body may nest deeper than the call stack goes.
  const pending = [value];
  while (pending.length) {
    const v = pending.pop();
    if (typeof v === "string") {
      if (v.includes("\u0000")) return true;
    } else if (v && typeof v === "object") {
      for (const [k, inner] of Object.entries(v)) {
        if (k.includes("\u0000")) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}

/** The error for a NUL in `where` ("path", "query", "body"). */
export const nulRefused = (where: string): HoardError => fail("VALIDATION", { detail: `the request's ${where} holds the NUL character (U+0000), which no name or value may contain` });
