import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CheckResultSchema,
  GrpcCheckSchema,
  HealthCheckSchema,
  HttpCheckSchema,
  InstanceSchema,
  LimitsSchema,
  RemovalReason,
  ResolveResponseSchema,
  TcpCheckSchema,
  type CheckResult,
  type HealthCheck,
  type Instance,
  type Limits as LimitsProto,
  type ResolveResponse,
} from "../../gen/roster/v1/registry_pb.js";
import type { Limits, Timing } from "../config.js";
import type { CheckSpec, CheckState, InstanceRecord, RemovalCause } from "../core/types.js";
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
      checks: r.checks.map(checkToProto),
      checkResults: r.health.map(checkStateToProto),
      reportedStatus: r.reportedStatus,
  });
}

/** The wire form of a check, every default filled in. */
export function checkToProto(c: CheckSpec): HealthCheck {
  const kind: HealthCheck["kind"] =
    c.kind === "http" && c.http
      ? { case: "http", value: create(HttpCheckSchema, { ...c.http, expectedStatuses: [...c.http.expectedStatuses], headers: { ...c.http.headers } }) }
      : c.kind === "grpc" && c.grpc
        ? { case: "grpc", value: create(GrpcCheckSchema, c.grpc) }
        : { case: "tcp", value: create(TcpCheckSchema) };
  return create(HealthCheckSchema, {
    name: c.name,
    kind,
    interval: durationFromMs(c.intervalMs),
    timeout: durationFromMs(c.timeoutMs),
    failuresBeforeUnhealthy: c.failuresBeforeUnhealthy,
    successesBeforeHealthy: c.successesBeforeHealthy,
    initialDelay: durationFromMs(c.initialDelayMs),
    deregisterAfter: durationFromMs(c.deregisterAfterMs),
    port: c.port,
  });
}

function checkStateToProto(h: CheckState): CheckResult {
  return create(CheckResultSchema, {
    name: h.name,
    status: h.status,
    output: h.output,
    ...(h.checkedAt > 0 ? { checkedAt: timestampFromMs(h.checkedAt) } : {}),
    since: timestampFromMs(h.since),
  });
}

// Records are immutable, so a record's encoding is made once; bytes, not message
// objects, are kept: about 150 bytes an instance instead of well over a kilobyte.
const encoded = new WeakMap<InstanceRecord, Uint8Array>();

/** The protobuf encoding of an instance record (memoised per record). */
export function instanceBytes(r: InstanceRecord): Uint8Array {
  let b = encoded.get(r);
  if (b === undefined) {
    b = toBinary(InstanceSchema, instanceToProto(r));
    encoded.set(r, b);
  }
  return b;
}

/**
 * Encodes a ResolveResponse by splicing the instances' cached encodings,
 * byte for byte what `toBinary(ResolveResponseSchema, ...)` would give.
 */
export function encodeResolveResponse(instances: readonly InstanceRecord[], revision: bigint, stale: boolean): Uint8Array {
  const w = new BinaryWriter();
  for (const r of instances) w.tag(1, WireType.LengthDelimited).bytes(instanceBytes(r));
  if (revision !== 0n) w.tag(2, WireType.Varint).uint64(revision);
  if (stale) w.tag(3, WireType.Varint).bool(true);
  return w.finish();
}

// Messages whose encoding is cheaper made another way than by walking them: the gRPC fast path asks here first.
const encoders = new WeakMap<object, () => Uint8Array>();

/**
 * A ResolveResponse for these records. Its instances are built only when
 * read (Connect's serializer reads them); `encodeMessage` instead splices
 * the records' cached encodings, so the plain-gRPC hot path never builds
 * them at all.
 */
export function resolveResponse(instances: readonly InstanceRecord[], revision: bigint, stale: boolean): ResolveResponse {
  const m = create(ResolveResponseSchema, { revision, stale });
  let protos: Instance[] | undefined;
  Object.defineProperty(m, "instances", {
    enumerable: true,
    get: () => (protos ??= instances.map(instanceToProto)),
    set: (v: Instance[]) => (protos = v),
  });
  encoders.set(m, () => encodeResolveResponse(instances, revision, stale));
  return m;
}

/** The protobuf encoding of a message: its spliced encoding when it has one (`resolveResponse`), else `toBinary`. */
export function encodeMessage(schema: DescMessage, m: object): Uint8Array {
  const encode = encoders.get(m);
  return encode ? encode() : toBinary(schema, m as never);
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
    case "check_failed":
      return RemovalReason.CHECK_FAILED;
  }
}

/** The wire form of the limits in force (GetStatus), so clients in any language can stay within them. */
export function limitsToProto(l: Limits, t: Pick<Timing, "historySize" | "watchProgressIntervalMs">): LimitsProto {
  return create(LimitsSchema, {
    maxMessageBytes: l.maxMessageBytes,
    maxBufferedRequestBytesPerConnection: BigInt(l.maxBufferedRequestBytesPerConnection),
    maxServiceNameLength: l.maxServiceNameLength,
    maxNamespaceLength: l.maxNamespaceLength,
    maxInstanceIdLength: l.maxInstanceIdLength,
    maxHostLength: l.maxHostLength,
    maxTags: l.maxTags,
    maxTagLength: l.maxTagLength,
    maxMetadataEntries: l.maxMetadataEntries,
    maxMetadataBytes: l.maxMetadataBytes,
    maxZoneLength: l.maxZoneLength,
    maxWeight: l.maxWeight,
    minTtl: durationFromMs(l.minTtlMs),
    maxTtl: durationFromMs(l.maxTtlMs),
    maxInstancesPerService: l.maxInstancesPerService,
    maxInstances: l.maxInstances,
    maxStreamsPerConnection: l.maxStreamsPerConnection,
    maxWatchers: l.maxWatchers,
    maxWatchQueue: l.maxWatchQueue,
    historySize: t.historySize,
    watchProgressInterval: durationFromMs(t.watchProgressIntervalMs),
    maxChecksPerInstance: l.maxChecksPerInstance,
    minCheckInterval: durationFromMs(l.minCheckIntervalMs),
    maxChecks: l.maxChecks,
  });
}
