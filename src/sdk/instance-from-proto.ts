import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { CheckResult, HealthCheck, Instance } from "../../gen/roster/v1/registry_pb.js";
import type { CheckSpec, CheckState, InstanceRecord } from "../core/types.js";
import { durationToMs } from "../core/duration.js";

/**
 * The SDK's plain, immutable form of a wire instance. It is the registry's own
 * `InstanceRecord` shape, so the server's `Picker` and `matches` work on
 * cached copies unchanged.
 */
export function instanceFromProto(m: Instance): InstanceRecord {
  return Object.freeze({
    namespace: m.namespace,
    service: m.service,
    id: m.id,
    host: m.host,
    port: m.port,
    status: m.status,
    // A server from before active checks sends no reported status: then the status is the reported one.
    reportedStatus: m.reportedStatus || m.status,
    tags: Object.freeze([...m.tags]),
    metadata: Object.freeze({ ...m.metadata }),
    weight: m.weight === 0 ? 1 : m.weight,
    zone: m.zone,
    ttlMs: durationToMs(m.ttl),
    checks: Object.freeze(m.checks.map(checkFromProto)),
    health: Object.freeze(m.checkResults.map(checkStateFromProto)),
    createRevision: m.createRevision,
    modRevision: m.modRevision,
    registeredAt: m.registeredAt === undefined ? 0 : timestampMs(m.registeredAt),
    lastHeartbeatAt: m.lastHeartbeatAt === undefined ? 0 : timestampMs(m.lastHeartbeatAt),
    load: m.load,
  });
}

/** A check as the server sent it back (defaults already filled in). */
function checkFromProto(c: HealthCheck): CheckSpec {
  const spec: CheckSpec = {
    name: c.name,
    kind: c.kind.case ?? "tcp",
    port: c.port,
    intervalMs: durationToMs(c.interval),
    timeoutMs: durationToMs(c.timeout),
    failuresBeforeUnhealthy: c.failuresBeforeUnhealthy,
    successesBeforeHealthy: c.successesBeforeHealthy,
    initialDelayMs: durationToMs(c.initialDelay),
    deregisterAfterMs: durationToMs(c.deregisterAfter),
  };
  if (c.kind.case === "http") {
    const h = c.kind.value;
    return { ...spec, http: { path: h.path, tls: h.tls, tlsSkipVerify: h.tlsSkipVerify, expectedStatuses: [...h.expectedStatuses], headers: { ...h.headers } } };
  }
  if (c.kind.case === "grpc") return { ...spec, grpc: { service: c.kind.value.service, tls: c.kind.value.tls, tlsSkipVerify: c.kind.value.tlsSkipVerify } };
  return spec;
}

function checkStateFromProto(r: CheckResult): CheckState {
  return {
    name: r.name,
    status: r.status,
    output: r.output,
    checkedAt: r.checkedAt === undefined ? 0 : timestampMs(r.checkedAt),
    since: r.since === undefined ? 0 : timestampMs(r.since),
  };
}
