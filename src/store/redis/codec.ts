import { effectiveStatus, pendingState } from "../../core/health.js";
import { instanceRecord } from "../../core/record.js";
import type { Caller } from "../caller.js";
import type { HistoryEntry } from "../history.js";
import { CheckStatus, type CheckSpec, type CheckState, type InstanceRecord, type InstanceSpec, type InstanceStatus, type RemovalCause } from "../../core/types.js";

/*
 * How an instance is written in Redis: one string per instance,
 *
 *   createRevision,modRevision,registeredAt,lastHeartbeatAt,load,health,[~owner,]status,ttlMs,<json>
 *
 * where `~owner,` (the URI-encoded principal that registered the instance,
 * issue 13) is there only when the record has an owner, so records from
 * before owners read as unowned;
 * <json> is `[namespace, service, id, host, port, tags, metadata entries sorted by key, weight, zone, checks]`
 * and `health` is the health token (see encodeHealth). The Lua scripts must
 * read and rewrite the fields in front (revisions, beat time, load, health,
 * status, TTL) without a JSON library: Redis's cjson turns `[]` into `{}` and
 * reorders keys, so it cannot round-trip a record. Commas never occur in the
 * fields in front, so `string.match` splits them; everything from `status` on
 * is the "spec part" that decides whether a re-register changed anything
 * (sorted metadata, and checks with sorted keys, make that a plain string
 * comparison). `status` is the status the instance reported; the
 * effective one is computed when a record is read (effectiveStatus).
 */

/** How a principal is written in a record and in script arguments: URI-encoded, so it holds no comma. */
export function encodeOwner(principal: string): string {
  return encodeURIComponent(principal);
}

/** The caller a script checks against a record's owner (may_write in scripts.ts): '' when no check applies (auth off, or an admin). */
export function callerToken(caller: Caller | undefined): string {
  return caller === undefined || caller.admin ? "" : encodeOwner(caller.principal);
}

/** The part of a record a client states: compared in Lua to spot a register that changes nothing. */
export function encodeSpec(spec: InstanceSpec): string {
  const json = JSON.stringify([spec.namespace, spec.service, spec.id, spec.host, spec.port, spec.tags, sortedEntries(spec.metadata), spec.weight, spec.zone, sortedKeys(spec.checks)]);
  return `${spec.status},${spec.ttlMs},${json}`;
}

function sortedEntries<T>(r: Readonly<Record<string, T>>): [string, T][] {
  return Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `v` with the keys of every object in it sorted: equal checks make equal JSON whatever order their fields were given in. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(sortedEntries(v as Record<string, unknown>).map(([k, x]) => [k, sortedKeys(x)]));
}

/**
 * The health token of a record: one `name=state` entry per declared check, in
 * declaration order, joined by `&`. The name is URI-encoded; the state is the
 * URI-encoded JSON `[status, output, checkedAt, since]` of a committed state,
 * or, while the check is PENDING, the epoch ms it became PENDING (a PENDING
 * state holds nothing else). URI encoding leaves no comma, `=` or `&` of its
 * own in the token. Lua compares tokens as strings (the compare-and-set of a
 * check commit), counts the entries (max-checks), and on a re-register keeps
 * the entry of each name still declared, starting new ones PENDING. One
 * health has exactly one token, so the store checks a caller's `expected` by
 * encoding it.
 */
export function encodeHealth(health: readonly CheckState[]): string {
  return health.map((s) => `${encodeURIComponent(s.name)}=${s.status === CheckStatus.PENDING ? s.since : encodeURIComponent(JSON.stringify([s.status, s.output, s.checkedAt, s.since]))}`).join("&");
}

/** The names of a spec's checks as the register script takes them: a token without states (`a=&b=`), which the script fills in. */
export function declaredChecks(checks: readonly CheckSpec[]): string {
  return checks.map((c) => `${encodeURIComponent(c.name)}=`).join("&");
}

/** The states a token holds, by check name. */
function decodeHealth(token: string): Map<string, CheckState> {
  const out = new Map<string, CheckState>();
  if (token === "") return out;
  for (const entry of token.split("&")) {
    const eq = entry.indexOf("=");
    const name = decodeURIComponent(entry.slice(0, eq));
    const state = entry.slice(eq + 1);
    if (/^\d+$/.test(state)) {
      out.set(name, pendingState(name, Number(state)));
    } else {
      const [status, output, checkedAt, since] = JSON.parse(decodeURIComponent(state)) as [CheckStatus, string, number, number];
      out.set(name, { name, status, output, checkedAt, since });
    }
  }
  return out;
}

const recordPattern = /^(\d+),(\d+),(\d+),(\d+),([^,]*),([^,]*),(?:~([^,]*),)?(\d+),(\d+),(.*)$/s;
/** A record written before checks existed: no health token, no checks in the JSON. The scripts read it the same way (see unpack_record). */
const recordPatternWithoutHealth = /^(\d+),(\d+),(\d+),(\d+),([^,]*)(),()(\d+),(\d+),(.*)$/s;

/** Reads a record as the scripts wrote it. */
export function decodeRecord(packed: string): InstanceRecord {
  const m = recordPattern.exec(packed) ?? recordPatternWithoutHealth.exec(packed);
  if (m === null) throw new Error(`malformed instance record in Redis: ${packed.slice(0, 80)}`);
  const [namespace, service, id, host, port, tags, metadata, weight, zone, storedChecks] = JSON.parse(m[10]!) as [
    string,
    string,
    string,
    string,
    number,
    string[],
    [string, string][],
    number,
    string,
    CheckSpec[] | undefined,
  ];
  const checks = storedChecks ?? [];
  const states = decodeHealth(m[6]!);
  const health = checks.map((c) => states.get(c.name) ?? pendingState(c.name, Number(m[3])));
  const status = Number(m[8]) as InstanceStatus;
  return instanceRecord(
    { namespace, service, id, host, port, status, tags, metadata: Object.fromEntries(metadata), weight, zone, ttlMs: Number(m[9]), checks },
    {
      status: effectiveStatus(status, health),
      reportedStatus: status,
      health,
      createRevision: BigInt(m[1]!),
      modRevision: BigInt(m[2]!),
      registeredAt: Number(m[3]),
      lastHeartbeatAt: Number(m[4]),
      load: Number(m[5]),
      owner: decodeURIComponent(m[7] ?? ""),
    },
  );
}

/** The revision a stream entry id stands for: ids are `<revision>-0`. */
export function revisionOfId(id: string): bigint {
  return BigInt(id.slice(0, id.indexOf("-")));
}

/**
 * Reads one stream entry (`[id, [field, value, ...]]`) into a Change or a
 * RevisionJump. Fields: `kind` put|delete|jump, `instance` (put), `prev`
 * (update and delete), `cause` (delete); a jump has `from` (the revision the
 * history jumps from to the entry's own) and `at` (Redis-clock ms it was written).
 */
export function decodeEntry(id: string, fields: readonly string[]): HistoryEntry {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const revision = revisionOfId(id);
  const kind = f.get("kind");
  if (kind === "jump") return { kind: "jump", revision, from: BigInt(f.get("from")!) };
  const prev = f.get("prev");
  if (kind === "delete") {
    return { kind: "delete", revision, prev: decodeRecord(prev!), cause: f.get("cause") as RemovalCause };
  }
  const instance = decodeRecord(f.get("instance")!);
  return prev === undefined ? { kind: "put", revision, instance } : { kind: "put", revision, instance, prev: decodeRecord(prev) };
}
