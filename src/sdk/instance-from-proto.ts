import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Instance } from "../../gen/roster/v1/registry_pb.js";
import type { InstanceRecord } from "../core/types.js";
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
    tags: Object.freeze([...m.tags]),
    metadata: Object.freeze({ ...m.metadata }),
    weight: m.weight === 0 ? 1 : m.weight,
    zone: m.zone,
    ttlMs: durationToMs(m.ttl),
    createRevision: m.createRevision,
    modRevision: m.modRevision,
    registeredAt: m.registeredAt === undefined ? 0 : timestampMs(m.registeredAt),
    lastHeartbeatAt: m.lastHeartbeatAt === undefined ? 0 : timestampMs(m.lastHeartbeatAt),
    load: m.load,
  });
}
