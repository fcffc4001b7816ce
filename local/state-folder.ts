import { chmodSync, mkdirSync } from "node:fs";

/**
 * The state folder's own mode: 0711. Guests' OS users must pass through it to reach their volumes and run
 * folders, but nobody but root may list it (its names are instance ids) or read what lies in it directly.
 * Applied at every start, so a folder made by an older Hoard (0755) is fixed too.
 */
export function prepareStateFolder(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o711 });
  chmodSync(home, 0o711);
}
