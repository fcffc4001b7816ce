/**
 * The routes the gateway serves, read from the gateway itself (not listed by hand), so a test that walks
 * every route also walks one added tomorrow.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../config/index.js";
import { buildGateway, routeTable, type RouteEntry } from "../../gateway/index.js";

export type { RouteEntry };

/** Every route of a gateway built as `startGateway` builds it; no request is ever served by it. */
export async function servedRoutes(): Promise<RouteEntry[]> {
  const home = mkdtempSync(path.join(os.tmpdir(), "hoard-routes-"));
  const app = buildGateway({
    config: loadConfig({ HOARD_HOME: home }),
    invoke: async () => {
      throw new Error("the route table is read, not served");
    },
    log: pino({ level: "silent" }),
  });
  await app.ready();
  const routes = routeTable(app);
  await app.close();
  rmSync(home, { recursive: true, force: true });
  return routes;
}

/** `METHOD /path/:pattern`, the key tests use for a route. */
export const routeKey = (r: RouteEntry) => `${r.method} ${r.url}`;

/** The `:name` parameters of a route's path, in order. */
export const routeParams = (url: string) => [...url.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);

/** Fills a route's parameters; values are percent-encoded unless `raw` says otherwise. */
export function fillRoute(url: string, values: Record<string, string>, raw: Record<string, boolean> = {}): string {
  return url.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v = values[name] ?? "";
    if (raw[name]) return v;
    try {
      return encodeURIComponent(v);
    } catch {
      // A lone surrogate cannot be encoded; sent as it is, the URL parser replaces it.
      return v;
    }
  });
}
