import { create } from "@bufbuild/protobuf";
import { DurationSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { InstanceSchema, RemovalReason, type Instance } from "../../gen/roster/v1/registry_pb.js";
import type { InstanceRecord, RemovalCause } from "../registry/types.js";

// Records are immutable, so one wire message per record serves every response and watcher.
const cache = new WeakMap<InstanceRecord, Instance>();

/** The wire form of an instance record (memoised per record). */
export function instanceToProto(r: InstanceRecord): Instance {
  let m = cache.get(r);
  if (m === undefined) {
    m = create(InstanceSchema, {
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
      ttl: r.ttlMs > 0 ? create(DurationSchema, { seconds: BigInt(Math.floor(r.ttlMs / 1000)), nanos: (r.ttlMs % 1000) * 1e6 }) : undefined,
      createRevision: r.createRevision,
      modRevision: r.modRevision,
      registeredAt: timestampFromMs(r.registeredAt),
      lastHeartbeatAt: timestampFromMs(r.lastHeartbeatAt),
      load: r.load,
    });
    cache.set(r, m);
  }
  return m;
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
