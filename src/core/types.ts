import { CheckStatus, InstanceStatus } from "../../gen/roster/v1/registry_pb.js";

export { CheckStatus, InstanceStatus };

/** The namespace used when a request leaves it empty (SEMANTICS 1.1). */
export const DEFAULT_NAMESPACE = "default";

/** The identity of an instance (SEMANTICS 1.1). */
export interface InstanceKey {
  readonly namespace: string;
  readonly service: string;
  readonly id: string;
}

/** What a client states about an instance when it registers it. */
export interface InstanceSpec extends InstanceKey {
  readonly host: string;
  readonly port: number;
  readonly status: InstanceStatus;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Relative weight, at least 1. */
  readonly weight: number;
  readonly zone: string;
  /** Lease length in milliseconds; 0 means no lease. */
  readonly ttlMs: number;
  /** Active checks the registry runs against the instance (SEMANTICS 6.2); names are unique. */
  readonly checks: readonly CheckSpec[];
}

/** How a check probes. */
export type CheckKind = "http" | "tcp" | "grpc";

/** An active check as the registry stores it: every default filled in (see validateChecks). */
export interface CheckSpec {
  /** Unique within the instance. */
  readonly name: string;
  readonly kind: CheckKind;
  /** The port probed on the instance's host; 0 means the instance's port. */
  readonly port: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failuresBeforeUnhealthy: number;
  readonly successesBeforeHealthy: number;
  /** Wait before the first probe; the checker adds a random part of one interval. */
  readonly initialDelayMs: number;
  /** Remove the instance once this check has been FAILING this long; 0 never. */
  readonly deregisterAfterMs: number;
  /** Set when kind is "http". */
  readonly http?: {
    readonly path: string;
    readonly tls: boolean;
    readonly tlsSkipVerify: boolean;
    /** Statuses that pass instead of 2xx; empty means 2xx. */
    readonly expectedStatuses: readonly number[];
    readonly headers: Readonly<Record<string, string>>;
  };
  /** Set when kind is "grpc". */
  readonly grpc?: { readonly service: string; readonly tls: boolean; readonly tlsSkipVerify: boolean };
}

/** A check's committed state: changed only by a flip (see src/core/health.ts). */
export interface CheckState {
  readonly name: string;
  readonly status: CheckStatus;
  /** An excerpt of what the probe that set the status saw. */
  readonly output: string;
  /** Epoch milliseconds of the probe that set the status; 0 while PENDING. */
  readonly checkedAt: number;
  /** Epoch milliseconds the check entered this status (registration, for PENDING). */
  readonly since: number;
}

/**
 * An instance as the registry holds it. Records are immutable: a change makes
 * a new one. `status` is the effective status every reader uses;
 * `reportedStatus` is the one the instance stated (see effectiveStatus).
 */
export interface InstanceRecord extends InstanceSpec {
  /** The status the instance itself last reported (Register or heartbeat). */
  readonly reportedStatus: InstanceStatus;
  /** One state per declared check, in the order of `checks`. */
  readonly health: readonly CheckState[];
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  /** Epoch milliseconds. */
  readonly registeredAt: number;
  /** Epoch milliseconds of the last heartbeat (or of registration). */
  readonly lastHeartbeatAt: number;
  /** The load last reported on a heartbeat. */
  readonly load: number;
  /**
   * The principal that first registered the instance: only it (or an admin)
   * may heartbeat, deregister or re-register it. "" when auth is off, and for
   * records written before owners existed. Server-side only: the proto
   * carries no owner, so records built from it (the SDK's) have none; every
   * store record has it (instanceRecord always sets it).
   */
  readonly owner?: string;
}

/** Why an instance left the registry. */
export type RemovalCause = "expired" | "deregistered" | "check_failed";

/**
 * One change to the registry, with the revision it was given (SEMANTICS 3.1).
 * `prev` is the instance before the change, so a filtered watcher can tell
 * whether the instance entered, stayed in or left its view.
 */
export type Change =
  | { readonly kind: "put"; readonly revision: bigint; readonly instance: InstanceRecord; readonly prev?: InstanceRecord }
  | { readonly kind: "delete"; readonly revision: bigint; readonly prev: InstanceRecord; readonly cause: RemovalCause };

/** A consistent view of some instances at one revision. */
export interface Snapshot {
  readonly revision: bigint;
  readonly instances: InstanceRecord[];
  /** True when the store is unreachable and this is the node's last view. */
  readonly stale: boolean;
}

/** Instance counts of one service. */
export interface ServiceSummary {
  readonly name: string;
  readonly counts: Readonly<Record<StatusName, number>>;
  readonly total: number;
}

/** The status names used in counts, logs and the CLI. */
export type StatusName = "starting" | "healthy" | "unhealthy" | "stopping" | "unknown";

/** Lower-case name of a status, for logs, counts and people. */
export function statusName(status: InstanceStatus): StatusName {
  switch (status) {
    case InstanceStatus.STARTING:
      return "starting";
    case InstanceStatus.UNHEALTHY:
      return "unhealthy";
    case InstanceStatus.STOPPING:
      return "stopping";
    case InstanceStatus.UNKNOWN:
      return "unknown";
    default:
      return "healthy";
  }
}

/**
 * The map key of an instance: unique across namespaces and services. Built
 * with `join`, which makes one flat string: a template literal would keep a
 * chain of V8 cons-string nodes (about 100 bytes) alive per instance.
 */
export function instanceKeyString(k: InstanceKey): string {
  return [k.namespace, k.service, k.id].join("/");
}

/** The map key of a service within the registry. */
export function serviceKeyString(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

/** What a heartbeat may change besides renewing the lease. */
export interface Beat {
  /** A new status, or undefined to leave it. */
  readonly status?: InstanceStatus;
  readonly load?: number;
}
