import { isDeepStrictEqual } from "node:util";
import { CheckStatus, InstanceStatus, instanceKeyString, type CheckSpec, type CheckState, type InstanceKey } from "./types.js";

/**
 * The status everyone reads (filters, picks, counts, watch, xDS) from the one
 * the instance reports and its checks' committed states (SEMANTICS 6.3):
 * 1. reported STOPPING stays STOPPING: an instance's own drain wins over any check;
 * 2. else any FAILING check makes it UNHEALTHY: a failing check wins over a
 *    self-reported HEALTHY (or STARTING, or UNKNOWN);
 * 3. else the reported status: PENDING and PASSING checks neither raise nor
 *    lower it, so a check never makes healthy what the instance says is not.
 */
export function effectiveStatus(reported: InstanceStatus, health: readonly CheckState[]): InstanceStatus {
  if (reported === InstanceStatus.STOPPING) return reported;
  for (const h of health) if (h.status === CheckStatus.FAILING) return InstanceStatus.UNHEALTHY;
  return reported;
}

/**
 * The health of an instance whose checks are `checks`: each check keeps its
 * state from `prev` by name (a re-register that keeps a check keeps what was
 * learnt about it), a new one starts PENDING since `now`, and states of checks
 * no longer declared are dropped. Returns `prev` itself when nothing changed.
 */
export function alignHealth(checks: readonly CheckSpec[], prev: readonly CheckState[], now: number): readonly CheckState[] {
  if (checks.length === prev.length && checks.every((c, i) => prev[i]!.name === c.name)) return prev;
  const byName = new Map(prev.map((h) => [h.name, h]));
  return checks.map((c) => byName.get(c.name) ?? pendingState(c.name, now));
}

/** The state of a check nothing has been decided about yet. */
export function pendingState(name: string, since: number): CheckState {
  return { name, status: CheckStatus.PENDING, output: "", checkedAt: 0, since };
}

/** `health` with the state of `next.name` replaced by `next`; undefined when the instance has no such check. */
export function withCheckState(health: readonly CheckState[], next: CheckState): readonly CheckState[] | undefined {
  const i = health.findIndex((h) => h.name === next.name);
  if (i < 0) return undefined;
  const out = [...health];
  out[i] = next;
  return out;
}

/** True when two health lists hold the same states (the store's compare-and-set). */
export function sameHealth(a: readonly CheckState[], b: readonly CheckState[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((h, i) => {
    const o = b[i]!;
    return h.name === o.name && h.status === o.status && h.output === o.output && h.checkedAt === o.checkedAt && h.since === o.since;
  });
}

/** True when two check lists declare the same checks (part of "did a re-register change anything"). */
export function sameChecks(a: readonly CheckSpec[], b: readonly CheckSpec[]): boolean {
  return a.length === b.length && a.every((c, i) => isDeepStrictEqual(c, b[i]));
}

/** The identity of one check across the registry: what ownership is hashed on. */
export function checkId(key: InstanceKey, checkName: string): string {
  return `${instanceKeyString(key)}#${checkName}`;
}
