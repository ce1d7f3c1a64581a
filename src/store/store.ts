import type { Limits, Timing } from "../config.js";
import type { Caller } from "./caller.js";
import type { Beat, Change, CheckState, InstanceKey, InstanceRecord, InstanceSpec, ServiceSummary, Snapshot } from "../core/types.js";

/** The result of a Register. */
export interface RegisterResult {
  readonly instance: InstanceRecord;
  /** True when the instance did not exist before. */
  readonly created: boolean;
  /** The registry revision after the call (unchanged when a retry changed nothing). */
  readonly revision: bigint;
}

/** The services of a namespace at one revision. */
export interface ServiceList {
  readonly revision: bigint;
  readonly services: ServiceSummary[];
  readonly stale: boolean;
}

/** What a store says about itself, for GetStatus, metrics and health. */
export interface StoreStatus {
  /** The last revision this node has seen. */
  readonly revision: bigint;
  readonly instances: number;
  readonly leases: number;
  /** True while expiry is suspended (SEMANTICS 2.6). */
  readonly expiryProtection: boolean;
  /** True while the backing store is unreachable and reads come from the node's last view. */
  readonly stale: boolean;
}

/**
 * The nodes that share a store and split its active checks between them
 * (SEMANTICS 6.2). Ownership is a pure function of the member list (see
 * src/server/checks/), so a node that commits under the epoch it read the
 * list at commits only what it owns.
 */
export interface CheckMembers {
  /** This node's id, fresh at every start. */
  readonly self: string;
  /** The live members, or undefined while this node is not one (its announcement lapsed, or the store is unreachable). */
  view(): MemberView | undefined;
  /** Told each time the view changes; returns the function that stops it. */
  onChange(listener: (view: MemberView | undefined) => void): () => void;
}

/** The live members at one membership epoch; the epoch changes whenever the list does. */
export interface MemberView {
  readonly nodes: readonly string[];
  readonly epoch: bigint;
}

/** What a check result is committed under: the node and the membership epoch it computed ownership from. */
export interface CheckFence {
  readonly node: string;
  readonly epoch: bigint;
}

/**
 * How a check commit ended:
 * - committed: a new revision;
 * - unchanged: the check already had that state;
 * - fenced: the node is not a live member at that epoch (it lost ownership);
 * - conflict: the instance's health is no longer the expected one (another
 *   commit, or a re-register changed its checks): read again and decide again;
 * - gone: no such instance, or no such check on it.
 */
export type CheckCommit = "committed" | "unchanged" | "fenced" | "conflict" | "gone";

/** Receives every change, synchronously, in revision order, each exactly once. */
export type ChangeListener = (change: Change) => void;

/** Options every store takes. */
export interface StoreOptions {
  readonly limits: Limits;
  readonly timing: Timing;
  /** Told when expiry protection starts or ends, with a sentence for the log. */
  readonly onProtection?: (active: boolean, detail: string) => void;
  /** Told when the store loses or regains its backend (a Redis outage). */
  readonly onStale?: (stale: boolean, detail: string) => void;
  /**
   * Told when the store had to reload and could not deliver some changes to
   * subscribers (its backend lost data, or trimmed history the node had not
   * read): every view built from the feed must start over.
   */
  readonly onResync?: (detail: string) => void;
  /** Told when this node found itself dropped from the check membership (its announcement lapsed) and joined again. */
  readonly onMembership?: (detail: string) => void;
}

/**
 * Where instances, leases and the change history live. The server holds one
 * Store and knows nothing else about storage; every implementation passes the
 * contract suites in `src/store/contract/` (`roster/store/contract`).
 *
 * Rules every store keeps:
 * - every change gets the next value of one revision counter (SEMANTICS 3.1);
 * - register is an upsert that keeps (and renews) the lease; an upsert that
 *   changes nothing makes no revision;
 * - leases expire no later than TTL + 1 s after the last renewal, one removal
 *   each, unless expiry protection holds them (SEMANTICS 2.6);
 * - subscribers see every change in revision order, each exactly once;
 * - a record's `status` is effectiveStatus(reportedStatus, health), and a
 *   re-register keeps the health of the checks it keeps (alignHealth);
 * - at most `max-checks` checks in the registry, refused at register.
 */
export interface Store {
  /** "memory", "redis"... */
  readonly kind: string;
  /**
   * Creates or updates an instance. Throws RosterError resource_exhausted at a limit, unavailable without a backend.
   * A new record's owner is `caller`'s principal; an update keeps the owner.
   * Every write below throws RosterError permission_denied, checked atomically
   * with the write, when the instance has an owner that `caller` is not and
   * `caller` is not admin (undefined: auth off, no check; see mayWrite).
   */
  register(spec: InstanceSpec, caller?: Caller): Promise<RegisterResult>;
  /** Removes an instance at once. Throws RosterError not_found, or permission_denied (see register). */
  deregister(key: InstanceKey, caller?: Caller): Promise<Change>;
  /** Renews the lease, and applies a status or load change. Throws RosterError not_found, or permission_denied (see register). */
  heartbeat(key: InstanceKey, beat: Beat, caller?: Caller): Promise<void>;
  /** One instance, if it exists. */
  get(key: InstanceKey): Promise<InstanceRecord | undefined>;
  /** The instances of a service, or of every service of a namespace when `service` is undefined, at one revision. */
  list(namespace: string, service?: string): Promise<Snapshot>;
  /** Every service of a namespace with its counts. */
  listServices(namespace: string): Promise<ServiceList>;
  /**
   * The changes after `revision`, oldest first, or "compacted" when history
   * no longer reaches back that far. Never a silent gap (SEMANTICS 4.2): a
   * store must answer "compacted" (not an empty list) for any revision from
   * before its last loss of state (a restart, a backend that came back empty
   * or trimmed, a failover to a lagging replica), including one equal to the
   * current revision when the state behind it was lost; and its revisions must
   * never repeat or go backwards across such a loss, so an old revision can
   * never be mistaken for one of the new history. When it loses state while
   * running, it calls `onResync` so every open watch ends (WatchHub.resync).
   */
  changesSince(revision: bigint): Promise<Change[] | "compacted">;
  /** Starts delivering changes made from now on; returns the function that stops it. */
  subscribe(listener: ChangeListener): () => void;
  /** The store's state, without a round trip. */
  status(): StoreStatus;
  /** Every instance of every namespace, at one revision (what the health checker indexes). */
  listAll(): Promise<Snapshot>;
  /** The nodes sharing this store's checks. */
  readonly members: CheckMembers;
  /**
   * Commits a check's new state (`next`, named by `next.name`) if the
   * instance's health is still `expected` and `fence` is current; the
   * instance's status is recomputed (effectiveStatus) and a changed record is
   * an ordinary change with a new revision.
   */
  setCheckState(key: InstanceKey, expected: readonly CheckState[], next: CheckState, fence: CheckFence): Promise<CheckCommit>;
  /**
   * Removes the instance, with cause "check_failed", if its health is still
   * `expected` and `fence` is current (a check FAILING past its
   * deregister-after). Returns the delete change, or why not.
   */
  removeFailedCheck(key: InstanceKey, expected: readonly CheckState[], fence: CheckFence): Promise<Change | Exclude<CheckCommit, "committed" | "unchanged">>;
  /** Stops timers and closes connections. */
  close(): Promise<void>;
}
