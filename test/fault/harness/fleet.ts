import { clientFor, sleep, until } from "../../helpers/server.js";
import { check, passed, summary, type CheckReport, type Truth } from "./checker.js";
import type { Recorder } from "./watch-recorder.js";

/** The keys the load generator keeps alive, each alive over [from, to]. */
export function aliveMap(service: string, count: number, from: number, to: number): Map<string, { from: number; to: number }> {
  return new Map(Array.from({ length: count }, (_, i) => [`default/${service}/i${i}`, { from, to }]));
}

/** Waits until `changes()` stops growing for `quietMs`. */
export async function quiesce(changes: () => number, quietMs = 1500, ms = 30_000): Promise<void> {
  let last = -1;
  let since = Date.now();
  await until(
    "the registry to settle",
    () => {
      const n = changes();
      if (n !== last) {
        last = n;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    },
    ms,
  );
}

/** Finishes every recorder, checks them against the truth, prints the compact line, and returns the report. */
export async function verdict(row: string, recorders: Recorder[], truth: () => Truth, alive: Map<string, { from: number; to: number }>, extra = ""): Promise<CheckReport> {
  const records = await Promise.all(recorders.map((r) => r.finish()));
  const t = truth();
  const report = check(records, t, alive);
  const changes = t.eras.reduce((n, e) => n + e.changes.length, 0);
  const expired = t.eras.reduce((n, e) => n + e.changes.filter((c) => c.cause === "expired").length, 0);
  console.log(`      FAULT[${row}] ${summary(report)} truthChanges=${changes} expired=${expired}${extra ? ` ${extra}` : ""}`);
  // A truth without the fleet's registrations would make every count vacuous.
  if (alive.size > 0 && changes < alive.size) throw new Error(`the truth holds ${changes} changes: the harness saw nothing`);
  if (!passed(report)) for (const n of report.notes) console.log(`        ${n}`);
  return report;
}

export { clientFor, passed, sleep };
