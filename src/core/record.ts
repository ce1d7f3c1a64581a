import type { InstanceRecord, InstanceSpec } from "./types.js";

/** What a store adds to a spec to make a record. */
export type RecordState = Omit<InstanceRecord, keyof InstanceSpec> & Pick<InstanceRecord, "status">;

/**
 * An instance record, built field by field. Every record is made here (or by
 * `recordWith`), so all share one hidden class in V8: a record made by
 * spreading a spec and adding fields gets a map and descriptor array of its
 * own, about 570 bytes more per instance, and every later spread of it
 * allocates another (bench:store measures the difference).
 */
export function instanceRecord(spec: InstanceSpec, s: RecordState): InstanceRecord {
  return {
    namespace: spec.namespace,
    service: spec.service,
    id: spec.id,
    host: spec.host,
    port: spec.port,
    status: s.status,
    tags: spec.tags,
    metadata: spec.metadata,
    weight: spec.weight,
    zone: spec.zone,
    ttlMs: spec.ttlMs,
    checks: spec.checks,
    reportedStatus: s.reportedStatus,
    health: s.health,
    createRevision: s.createRevision,
    modRevision: s.modRevision,
    registeredAt: s.registeredAt,
    lastHeartbeatAt: s.lastHeartbeatAt,
    load: s.load,
    owner: s.owner ?? "",
  };
}

/** `prev` with the fields of `change` replaced, as a new record (see instanceRecord). */
export function recordWith(prev: InstanceRecord, change: Partial<InstanceRecord>): InstanceRecord {
  return {
    namespace: change.namespace ?? prev.namespace,
    service: change.service ?? prev.service,
    id: change.id ?? prev.id,
    host: change.host ?? prev.host,
    port: change.port ?? prev.port,
    status: change.status ?? prev.status,
    tags: change.tags ?? prev.tags,
    metadata: change.metadata ?? prev.metadata,
    weight: change.weight ?? prev.weight,
    zone: change.zone ?? prev.zone,
    ttlMs: change.ttlMs ?? prev.ttlMs,
    checks: change.checks ?? prev.checks,
    reportedStatus: change.reportedStatus ?? prev.reportedStatus,
    health: change.health ?? prev.health,
    createRevision: change.createRevision ?? prev.createRevision,
    modRevision: change.modRevision ?? prev.modRevision,
    registeredAt: change.registeredAt ?? prev.registeredAt,
    lastHeartbeatAt: change.lastHeartbeatAt ?? prev.lastHeartbeatAt,
    load: change.load ?? prev.load,
    owner: change.owner ?? prev.owner,
  };
}
