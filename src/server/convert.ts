import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { InstanceSchema, RemovalReason, type Instance } from "../../gen/roster/v1/registry_pb.js";
import type { InstanceRecord, RemovalCause } from "../core/types.js";
import { durationFromMs } from "../core/duration.js";

/** The wire form of an instance record. */
export function instanceToProto(r: InstanceRecord): Instance {
  return create(InstanceSchema, {
      namespace: r.namespace,
      service: r.service,
      id: r.id,
      host: r.host,
      port: r.port,
      status: r.status,
      tags: [...r.tags],
      metadata: { ...r.metadata },
      weight: r.weight,
      zone: r.zone,
      ttl: durationFromMs(r.ttlMs),
      createRevision: r.createRevision,
      modRevision: r.modRevision,
      registeredAt: timestampFromMs(r.registeredAt),
      lastHeartbeatAt: timestampFromMs(r.lastHeartbeatAt),
      load: r.load,
  });
}

/** The wire form of a removal cause. */
export function removalReason(cause: RemovalCause | "unmatched"): RemovalReason {
  switch (cause) {
    case "expired":
      return RemovalReason.EXPIRED;
    case "deregistered":
      return RemovalReason.DEREGISTERED;
    case "unmatched":
      return RemovalReason.UNMATCHED;
  }
}
