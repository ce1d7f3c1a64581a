import type { CheckSpec, InstanceRecord } from "../../core/types.js";
import type { GrpcHealthWatch, GrpcTarget } from "./grpc-probe.js";
import { httpProbe } from "./http-probe.js";
import type { ProbeResult } from "./probe-result.js";
import { tcpProbe } from "./tcp-probe.js";

/** Where the checker may send a check's probes. */
export interface ProbePolicy {
  /** check-any-port: a check may name another port of the instance's host. */
  readonly anyPort: boolean;
  /** check-output-bytes. */
  readonly outputBytes: number;
}

/**
 * The port a check probes: the instance's own unless the check names another
 * and check-any-port is on; undefined when it names another and the policy
 * forbids it (a record registered on a node with another policy, or through
 * another store client). The host is always the instance's own: a registry
 * must not become a port scanner or SSRF relay for whoever can register, and
 * output excerpts would leak what answers at arbitrary addresses.
 */
export function probePort(record: InstanceRecord, spec: CheckSpec, policy: ProbePolicy): number | undefined {
  if (spec.port === 0 || spec.port === record.port) return record.port;
  return policy.anyPort ? spec.port : undefined;
}

/** The grpc.health.v1 stream a gRPC check reads, or undefined for other kinds or a forbidden port. */
export function grpcTarget(record: InstanceRecord, spec: CheckSpec, policy: ProbePolicy): GrpcTarget | undefined {
  const port = probePort(record, spec, policy);
  if (spec.kind !== "grpc" || port === undefined) return undefined;
  return { host: record.host, port, service: spec.grpc?.service ?? "", tls: spec.grpc?.tls ?? false, tlsSkipVerify: spec.grpc?.tlsSkipVerify ?? false };
}

/** Runs one probe of `spec` against `record`; `grpc` is the check's stream when it is a gRPC check. Never rejects. */
export async function probeCheck(record: InstanceRecord, spec: CheckSpec, policy: ProbePolicy, grpc: GrpcHealthWatch | undefined, signal?: AbortSignal): Promise<ProbeResult> {
  const port = probePort(record, spec, policy);
  if (port === undefined) return { passed: false, output: `port ${spec.port} is not the instance's port and check-any-port is off` };
  const base = { host: record.host, port, timeoutMs: spec.timeoutMs, outputBytes: policy.outputBytes };
  switch (spec.kind) {
    case "http": {
      const h = spec.http ?? { path: "/health", tls: false, tlsSkipVerify: false, expectedStatuses: [], headers: {} };
      return httpProbe({ ...base, ...h }, signal);
    }
    case "tcp":
      return tcpProbe(base, signal);
    case "grpc":
      if (grpc === undefined) return { passed: false, output: "no gRPC health stream for this check" };
      return grpc.probe(spec.timeoutMs, policy.outputBytes);
  }
}
