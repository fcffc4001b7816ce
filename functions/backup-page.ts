import { fail } from "../errors/index.js";

/** Trove's backup paging: `marker` is the offset of the page (0 when absent); pages are at most `pageSize`. */
export function backupPage(query: { limit?: number | undefined; marker?: string | undefined }, pageSize: number): { limit: number; offset: number } {
  if (query.marker !== undefined && !/^[0-9]{1,9}$/.test(query.marker)) {
    throw fail("VALIDATION", { detail: `marker '${query.marker.slice(0, 64)}' is not an offset; backups are paged by the number of backups to skip (e.g. marker=20)` });
  }
  return { limit: Math.min(query.limit ?? pageSize, pageSize), offset: query.marker ? Number(query.marker) : 0 };
}
