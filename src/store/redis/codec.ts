import type { Change, InstanceRecord, InstanceSpec, InstanceStatus, RemovalCause } from "../../core/types.js";

/*
 * How an instance is written in Redis: one string per instance,
 *
 *   createRevision,modRevision,registeredAt,lastHeartbeatAt,load,status,ttlMs,<json>
 *
 * where <json> is `[namespace, service, id, host, port, tags, metadata entries sorted by key, weight, zone]`.
 * The Lua scripts must read and rewrite the numbers in front (revisions, beat
 * time, load, status, TTL) without a JSON library: Redis's cjson turns `[]`
 * into `{}` and reorders keys, so it cannot round-trip a record. Commas never
 * occur in the numeric fields, so `string.match` splits them; everything from
 * `status` on is the "spec part" that decides whether a re-register changed
 * anything (sorted metadata makes that a plain string comparison).
 */

/** The part of a record a client states: compared in Lua to spot a register that changes nothing. */
export function encodeSpec(spec: InstanceSpec): string {
  const metadata = Object.entries(spec.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const json = JSON.stringify([spec.namespace, spec.service, spec.id, spec.host, spec.port, spec.tags, metadata, spec.weight, spec.zone]);
  return `${spec.status},${spec.ttlMs},${json}`;
}

const recordPattern = /^(\d+),(\d+),(\d+),(\d+),([^,]*),(\d+),(\d+),(.*)$/s;

/** Reads a record as the scripts wrote it. */
export function decodeRecord(packed: string): InstanceRecord {
  const m = recordPattern.exec(packed);
  if (m === null) throw new Error(`malformed instance record in Redis: ${packed.slice(0, 80)}`);
  const [namespace, service, id, host, port, tags, metadata, weight, zone] = JSON.parse(m[8]!) as [
    string,
    string,
    string,
    string,
    number,
    string[],
    [string, string][],
    number,
    string,
  ];
  return {
    namespace,
    service,
    id,
    host,
    port,
    tags,
    metadata: Object.fromEntries(metadata),
    weight,
    zone,
    status: Number(m[6]) as InstanceStatus,
    // Active checks are not stored in Redis yet: the store refuses a Register that declares any.
    reportedStatus: Number(m[6]) as InstanceStatus,
    checks: [],
    health: [],
    ttlMs: Number(m[7]),
    createRevision: BigInt(m[1]!),
    modRevision: BigInt(m[2]!),
    registeredAt: Number(m[3]),
    lastHeartbeatAt: Number(m[4]),
    load: Number(m[5]),
  };
}

/** The revision a stream entry id stands for: ids are `<revision>-0`. */
export function revisionOfId(id: string): bigint {
  return BigInt(id.slice(0, id.indexOf("-")));
}

/**
 * Reads one stream entry (`[id, [field, value, ...]]`) into a Change. Fields:
 * `kind` put|delete, `instance` (put), `prev` (update and delete), `cause` (delete).
 */
export function decodeEntry(id: string, fields: readonly string[]): Change {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const revision = revisionOfId(id);
  const prev = f.get("prev");
  if (f.get("kind") === "delete") {
    return { kind: "delete", revision, prev: decodeRecord(prev!), cause: f.get("cause") as RemovalCause };
  }
  const instance = decodeRecord(f.get("instance")!);
  return prev === undefined ? { kind: "put", revision, instance } : { kind: "put", revision, instance, prev: decodeRecord(prev) };
}
