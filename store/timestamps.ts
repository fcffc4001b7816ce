/** Trove's timestamp form: naive UTC, whole seconds ("2019-12-23T20:58:35"). */
export function troveTime(d: Date): string {
  return d.toISOString().slice(0, 19);
}
