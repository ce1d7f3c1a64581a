/**
 * The one checker of the fault suite: compares what every watcher saw with the
 * ground truth (SEMANTICS 4.2, 4.3: ordered, unique, complete, a RESET
 * wherever history was lost, final state equal to Resolve) and counts false
 * expiries (SEMANTICS 2.6). Pure: it reads recorded data, so the unit tests in
 * test/unit/fault-checker.test.ts can feed it hand-made sequences.
 */

import type { RemovalCause } from "../../../src/core/types.js";

/** One message a watcher received, reduced to what the checks need. */
export type WatchItem =
  | { readonly kind: "open"; readonly startRevision: bigint; readonly at: number }
  | {
      readonly kind: "event";
      readonly type: "ADDED" | "UPDATED" | "REMOVED" | "SNAPSHOT_COMPLETE" | "RESET" | "PROGRESS";
      readonly revision: bigint;
      /** `namespace/service/id`, for ADDED, UPDATED and REMOVED. */
      readonly key?: string;
      /** registered_at in epoch ms: with the key and revision it tells one era's change from another's. */
      readonly registeredAt?: number;
      /** The instance's mod_revision (the snapshot's ADDED events carry it, not a change revision). */
      readonly modRevision?: bigint;
      /** For REMOVED: why. */
      readonly reason?: "expired" | "deregistered" | "unmatched";
      readonly at: number;
    }
  | { readonly kind: "end"; readonly code: string; readonly at: number };

/** Everything one watcher saw, over all its streams. */
export interface WatcherRecord {
  readonly name: string;
  /** `namespace/service`: the watch's scope. */
  readonly service: string;
  readonly items: readonly WatchItem[];
  /** Resolve (all statuses) on the watcher's node at the end: key -> mod revision. */
  readonly resolved: ReadonlyMap<string, bigint>;
}

/** One change of the ground truth. */
export interface TruthChange {
  readonly revision: bigint;
  readonly kind: "put" | "delete";
  readonly key: string;
  readonly registeredAt: number;
  /** For a delete, why. */
  readonly cause?: RemovalCause;
  /** When the harness saw it, epoch ms. */
  readonly at: number;
}

/**
 * The history of the registry, split where state was lost (Redis restarted
 * empty): each era's revisions are its own, and may repeat an earlier era's.
 */
export interface Truth {
  readonly eras: readonly TruthEra[];
}

/** One era of a Truth: the changes since Redis lost state, oldest first. */
export interface TruthEra {
  readonly startedAt: number;
  readonly changes: readonly TruthChange[];
  /**
   * When the era began by a failover to a replica that lagged: the last
   * revision of the era before that the replica kept (its changes up to it
   * open this era's). A watcher that saw nothing above it lost nothing, and
   * may go on into this era without RESET.
   */
  readonly keptThrough?: bigint;
}

/** The figures of one check. Everything but `resets` and `watchers` must be 0 for a pass. */
export interface CheckReport {
  watchers: number;
  resets: number;
  /** Changes of the truth a watcher's segment skipped (SEMANTICS 4.2 "none missing"). */
  gaps: number;
  /** Change revisions seen twice in one segment. */
  duplicates: number;
  /** Change revisions not above the segment's position. */
  disorder: number;
  /** Changes that are not in the era the segment follows: history lost without a RESET. */
  foreign: number;
  /** Snapshots that differ from the truth's state at their revision. */
  badSnapshots: number;
  /** Watchers whose final state differs from Resolve. */
  finalMismatch: number;
  /** Watchers that held state across a loss and never got a RESET or a fresh snapshot after it. */
  missedResets: number;
  /** Expiries of instances whose heartbeater was alive. */
  falseExpiries: number;
  /** A few sentences saying where the first problems were. */
  notes: string[];
}

/** True when nothing but resets was counted. */
export function passed(r: CheckReport): boolean {
  return r.gaps + r.duplicates + r.disorder + r.foreign + r.badSnapshots + r.finalMismatch + r.missedResets + r.falseExpiries === 0;
}

/** The compact line a scenario prints. */
export function summary(r: CheckReport): string {
  return (
    `watchers=${r.watchers} resets=${r.resets} gaps=${r.gaps} dup=${r.duplicates} disorder=${r.disorder} foreign=${r.foreign} ` +
    `badSnapshots=${r.badSnapshots} finalMismatch=${r.finalMismatch} missedResets=${r.missedResets} falseExpiries=${r.falseExpiries}`
  );
}

const serviceOf = (key: string) => key.slice(0, key.lastIndexOf("/"));

/** Instances of `service` in `era` after every change up to `revision`: key -> mod revision. */
function stateAt(changes: readonly TruthChange[], service: string, revision: bigint): Map<string, bigint> {
  const s = new Map<string, bigint>();
  for (const c of changes) {
    if (c.revision > revision) break;
    if (serviceOf(c.key) !== service) continue;
    if (c.kind === "put") s.set(c.key, c.revision);
    else s.delete(c.key);
  }
  return s;
}

function sameState(a: ReadonlyMap<string, bigint>, b: ReadonlyMap<string, bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * Checks every watcher against the truth. `alive` says, per instance key,
 * from when to when its heartbeater was alive (epoch ms): an expiry of that
 * key inside the interval is a false expiry.
 */
export function check(watchers: readonly WatcherRecord[], truth: Truth, alive: ReadonlyMap<string, { from: number; to: number }> = new Map()): CheckReport {
  const r: CheckReport = {
    watchers: watchers.length,
    resets: 0,
    gaps: 0,
    duplicates: 0,
    disorder: 0,
    foreign: 0,
    badSnapshots: 0,
    finalMismatch: 0,
    missedResets: 0,
    falseExpiries: 0,
    notes: [],
  };
  const note = (s: string) => {
    if (r.notes.length < 8) r.notes.push(s);
  };
  const eras = truth.eras;
  // (revision, key, registeredAt) -> the eras holding that change; puts also under (modRevision, key, registeredAt) for
  // snapshots. Several eras share a change when a loss kept a prefix of the history (a failover to a lagging replica).
  const index = new Map<string, number[]>();
  const id = (rev: bigint, key: string, registeredAt: number | undefined) => `${rev}|${key}|${registeredAt ?? ""}`;
  eras.forEach((e, i) => {
    for (const c of e.changes) {
      const k = id(c.revision, c.key, c.registeredAt);
      const list = index.get(k) ?? [];
      if (list.at(-1) !== i) list.push(i);
      index.set(k, list);
    }
  });
  const eraAtTime = (at: number) => {
    let k = 0;
    eras.forEach((e, i) => {
      if (e.startedAt <= at) k = i;
    });
    return k;
  };

  for (const w of watchers) {
    let era: number | undefined;
    /** While `era` is not settled: the eras every item of the segment so far belongs to. */
    let candidates: number[] | undefined;
    let position = 0n;
    let inSnapshot = false;
    let state = new Map<string, bigint>();
    let seen = new Set<bigint>();
    let segmentStart = 0;
    /** Eras this watcher held state in, with the time its latest segment in each began. */
    const segments: { era: number | undefined; startedAt: number; crossedInto: number[] }[] = [];
    const begin = (at: number) => {
      if (segments.length > 0) segments[segments.length - 1]!.era = era ?? (candidates ? settleEra(segmentStart) : undefined);
      era = undefined;
      candidates = undefined;
      state = new Map();
      seen = new Set();
      inSnapshot = true;
      segmentStart = at;
      segments.push({ era: undefined, startedAt: at, crossedInto: [] });
    };
    const settleEra = (at: number): number => {
      if (era === undefined) {
        const now = eraAtTime(at);
        era = candidates === undefined || candidates.includes(now) ? now : Math.max(...candidates);
      }
      return era;
    };
    /**
     * The first era after `from` holding a change in `inEras` that the segment may go on into without RESET: every
     * era up to it kept a prefix holding all the segment saw (nothing above `position`).
     */
    const crossing = (from: number, inEras: number[]): number | undefined => {
      for (let k = from + 1; k < eras.length; k++) {
        const kept = eras[k]!.keptThrough;
        if (kept === undefined || position > kept) return undefined;
        if (inEras.includes(k)) return k;
      }
      return undefined;
    };
    /** Whether a change in `eras` (from the index) fits the segment; narrows an unsettled segment's candidates. */
    const fits = (inEras: number[] | undefined): boolean => {
      if (inEras === undefined) return false;
      if (era !== undefined && inEras.includes(era)) return true;
      if (era === undefined) {
        const both: number[] = candidates === undefined ? inEras : candidates.filter((c) => inEras.includes(c));
        if (both.length > 0) {
          candidates = both;
          if (both.length === 1) era = both[0];
          return true;
        }
      }
      const next = crossing(era ?? Math.max(...candidates!), inEras);
      if (next === undefined) return false;
      for (let k = (era ?? Math.max(...candidates!)) + 1; k <= next; k++) segments.at(-1)?.crossedInto.push(k);
      era = next;
      candidates = undefined;
      return true;
    };
    const countGaps = (upTo: bigint, at: number) => {
      const e = eras[settleEra(at)];
      if (e === undefined) return;
      for (const c of e.changes) {
        if (c.revision <= position) continue;
        if (c.revision >= upTo) break;
        if (serviceOf(c.key) !== w.service || seen.has(c.revision)) continue;
        r.gaps++;
        note(`${w.name}: missed revision ${c.revision} (${c.kind} ${c.key}) before ${upTo}`);
      }
    };
    for (const item of w.items) {
      if (item.kind === "open") {
        if (item.startRevision === 0n) begin(item.at);
        else inSnapshot = false;
        continue;
      }
      if (item.kind === "end") continue;
      switch (item.type) {
        case "RESET":
          r.resets++;
          begin(item.at);
          break;
        case "SNAPSHOT_COMPLETE": {
          const e = settleEra(item.at);
          const expected = stateAt(eras[e]?.changes ?? [], w.service, item.revision);
          if (!sameState(expected, state)) {
            r.badSnapshots++;
            note(`${w.name}: snapshot at ${item.revision} has ${state.size} instances, the truth ${expected.size}`);
          }
          position = item.revision;
          inSnapshot = false;
          break;
        }
        case "PROGRESS":
          if (item.revision > position) {
            countGaps(item.revision + 1n, item.at);
            position = item.revision;
          }
          break;
        default: {
          const key = item.key ?? "";
          if (inSnapshot) {
            const rev = item.modRevision ?? item.revision;
            if (!fits(index.get(id(rev, key, item.registeredAt)))) {
              r.foreign++;
              note(`${w.name}: snapshot instance ${key}@${rev} is not in era ${era}`);
            }
            state.set(key, rev);
            break;
          }
          const e = index.get(id(item.revision, key, item.registeredAt));
          if (!fits(e)) {
            r.foreign++;
            note(`${w.name}: revision ${item.revision} (${item.type} ${key}) is not a change of era ${era ?? "?"}${e !== undefined ? ` but of era ${e.join("/")}` : ""}`);
          }
          if (seen.has(item.revision)) {
            r.duplicates++;
            note(`${w.name}: revision ${item.revision} twice`);
          } else if (item.revision <= position) {
            r.disorder++;
            note(`${w.name}: revision ${item.revision} after position ${position}`);
          } else {
            countGaps(item.revision, item.at);
          }
          seen.add(item.revision);
          if (item.revision > position) position = item.revision;
          if (item.type === "REMOVED") state.delete(key);
          else state.set(key, item.revision);
        }
      }
    }
    if (segments.length > 0) segments[segments.length - 1]!.era = settleEra(segmentStart);
    if (!sameState(state, w.resolved)) {
      r.finalMismatch++;
      const extra = [...state.keys()].filter((k) => !w.resolved.has(k)).length;
      const missing = [...w.resolved.keys()].filter((k) => !state.has(k)).length;
      note(`${w.name}: final state ${state.size} instances (${extra} not in Resolve, ${missing} missing), Resolve ${w.resolved.size}`);
    }
    // Every loss after the watcher first held state must be followed by a new segment begun after it.
    eras.forEach((e, k) => {
      if (k === 0) return;
      const before = segments.some((s) => s.startedAt < e.startedAt && (s.era ?? 0) < k);
      const after = segments.some((s) => (s.startedAt >= e.startedAt || s.crossedInto.includes(k)) && s.era !== undefined && s.era >= k);
      if (before && !after) {
        r.missedResets++;
        note(`${w.name}: held state from before the loss at era ${k} and never reset after it`);
      }
    });
  }

  for (const e of eras) {
    for (const c of e.changes) {
      if (c.kind !== "delete" || c.cause !== "expired") continue;
      const a = alive.get(c.key);
      if (a !== undefined && c.at >= a.from && c.at <= a.to) r.falseExpiries++;
    }
  }
  return r;
}
