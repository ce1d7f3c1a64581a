import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { limitReached, notFound } from "../errors.js";
import {
  instanceKeyString,
  statusName,
  type Beat,
  type Change,
  type CheckState,
  type InstanceKey,
  type InstanceRecord,
  type InstanceSpec,
  type RemovalCause,
  type ServiceSummary,
  type Snapshot,
  type StatusName,
} from "../core/types.js";
import { instanceRecord, recordWith } from "../core/record.js";
import { mayWrite, notOwner, ownerOf, type Caller } from "./caller.js";
import { alignHealth, effectiveStatus, sameChecks, sameHealth, withCheckState } from "../core/health.js";
import { ExpiryGuard, renewedUntil } from "./expiry-guard.js";
import { History } from "./history.js";
import { LeaseHeap } from "./lease-heap.js";
import { RenewedLeases } from "./renewed-leases.js";
import type { ChangeListener, CheckCommit, CheckFence, CheckMembers, MemberView, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store.js";

interface Entry {
  record: InstanceRecord;
  /** Monotonic deadline of the lease; Infinity when the instance has none. */
  deadline: number;
  /** The time under which the heap holds this lease; older heap entries for it are stale. */
  queuedAt: number | undefined;
}

/** The clocks a memory store reads; tests pass their own. */
export interface MemoryStoreClock {
  /** Wall-clock milliseconds since the epoch, with a fraction (seeds revisions, stamps records). */
  wallMs(): number;
  /** Monotonic milliseconds (lease deadlines, expiry protection). */
  monoMs(): number;
}

const systemClock: MemoryStoreClock = {
  wallMs: () => performance.timeOrigin + performance.now(),
  monoMs: () => performance.now(),
};

/**
 * The embedded store: everything in this process's memory. Lookups by
 * service are one map access; leases expire from a heap (see LeaseHeap);
 * the last `historySize` changes are kept for watch resumption.
 */
export class MemoryStore implements Store {
  readonly kind = "memory";
  readonly #entries = new Map<string, Entry>();
  /** namespace -> service -> instance key -> entry */
  readonly #services = new Map<string, Map<string, Map<string, Entry>>>();
  readonly #heap = new LeaseHeap();
  readonly #history: History;
  readonly #listeners = new Set<ChangeListener>();
  readonly #guard: ExpiryGuard;
  readonly #timer: NodeJS.Timeout;
  readonly #clock: MemoryStoreClock;
  /** The revision this run started at: history before it belongs to an earlier run. */
  readonly startRevision: bigint;
  #revision: bigint;
  #leases = 0;
  /** Leases renewed within their window (expiry protection). */
  readonly #renewed: RenewedLeases;
  /** When the guard last saw a sample. */
  #observedAt: number;
  /** Active checks declared by all instances (max-checks). */
  #checks = 0;
  /** One node owns every check: the view never changes. */
  readonly members: CheckMembers;

  constructor(
    readonly options: StoreOptions,
    clock: MemoryStoreClock = systemClock,
  ) {
    const t = options.timing;
    this.#clock = clock;
    // Seeded from the start time in microseconds so revisions keep rising across restarts, even
    // two within one millisecond, as long as a run averages under one change per microsecond and
    // the wall clock does not step back by more than the previous run lasted. A watcher resuming
    // from an earlier run's revision gets a reset (changesSince says "compacted" below the seed,
    // the hub resets above the current revision), never another run's history.
    this.startRevision = BigInt(Math.floor(clock.wallMs() * 1000));
    this.#revision = this.startRevision;
    this.#history = new History(t.historySize);
    this.#guard = new ExpiryGuard(
      {
        threshold: t.expiryProtectionThreshold,
        minLeases: t.expiryProtectionMinLeases,
        flapWindowMs: t.expiryProtectionWindowMs,
        maxHoldMs: t.expiryProtectionMaxMs,
        ...(options.onProtection ? { onChange: options.onProtection } : {}),
      },
      clock.monoMs(),
    );
    this.#renewed = new RenewedLeases(t.sweepIntervalMs, clock.monoMs());
    this.#observedAt = clock.monoMs();
    this.#timer = setInterval(() => this.sweep(), t.sweepIntervalMs);
    this.#timer.unref();
    const view: MemberView = { nodes: [`memory-${process.pid}-${randomBytes(4).toString("hex")}`], epoch: 1n };
    this.members = { self: view.nodes[0]!, view: () => view, onChange: () => () => {} };
  }

  async register(spec: InstanceSpec, caller?: Caller): Promise<RegisterResult> {
    const key = instanceKeyString(spec);
    const existing = this.#entries.get(key);
    if (existing !== undefined && !mayWrite(existing.record.owner, caller)) throw notOwner(key);
    const now = Math.floor(this.#clock.wallMs());
    if (existing === undefined) {
      const service = this.#services.get(spec.namespace)?.get(spec.service);
      const { maxInstancesPerService, maxInstances } = this.options.limits;
      if ((service?.size ?? 0) >= maxInstancesPerService) {
        throw limitReached("max-instances-per-service", maxInstancesPerService, `service ${spec.namespace}/${spec.service} is full`);
      }
      if (this.#entries.size >= maxInstances) throw limitReached("max-instances", maxInstances);
      this.#countChecks(spec.checks.length);
      const revision = this.#revision + 1n;
      const health = alignHealth(spec.checks, noHealth, now);
      const status = effectiveStatus(spec.status, health);
      const record = instanceRecord(spec, { status, reportedStatus: spec.status, health, createRevision: revision, modRevision: revision, registeredAt: now, lastHeartbeatAt: now, load: 0, owner: ownerOf(caller) });
      const entry: Entry = { record, deadline: Infinity, queuedAt: undefined };
      this.#entries.set(key, entry);
      this.#serviceMap(spec.namespace, spec.service, true).set(key, entry);
      this.#setLease(entry, key, spec.ttlMs);
      this.#commit({ kind: "put", revision, instance: record });
      return { instance: record, created: true, revision };
    }
    const prev = existing.record;
    if (sameSpec(prev, spec)) {
      this.#setLease(existing, key, spec.ttlMs);
      existing.record = recordWith(prev, { lastHeartbeatAt: now });
      return { instance: existing.record, created: false, revision: this.#revision };
    }
    this.#countChecks(spec.checks.length - prev.checks.length);
    this.#setLease(existing, key, spec.ttlMs);
    const revision = this.#revision + 1n;
    const health = alignHealth(spec.checks, prev.health, now);
    existing.record = instanceRecord(spec, {
      status: effectiveStatus(spec.status, health),
      reportedStatus: spec.status,
      health,
      createRevision: prev.createRevision,
      modRevision: revision,
      registeredAt: prev.registeredAt,
      lastHeartbeatAt: now,
      load: prev.load,
      owner: prev.owner,
    });
    this.#commit({ kind: "put", revision, instance: existing.record, prev });
    return { instance: existing.record, created: false, revision };
  }

  async deregister(key: InstanceKey, caller?: Caller): Promise<Change> {
    const k = instanceKeyString(key);
    const entry = this.#entries.get(k);
    if (entry === undefined) throw notFound(`instance ${k}`);
    if (!mayWrite(entry.record.owner, caller)) throw notOwner(k);
    return this.#remove(k, entry, "deregistered");
  }

  async heartbeat(key: InstanceKey, beat: Beat, caller?: Caller): Promise<void> {
    const k = instanceKeyString(key);
    const entry = this.#entries.get(k);
    if (entry === undefined) throw notFound(`instance ${k}`);
    if (!mayWrite(entry.record.owner, caller)) throw notOwner(k);
    const prev = entry.record;
    if (prev.ttlMs > 0) {
      this.#renew(entry, prev.ttlMs, prev.ttlMs);
    }
    const load = beat.load ?? prev.load;
    const at = Math.floor(this.#clock.wallMs());
    if (beat.status !== undefined && beat.status !== prev.reportedStatus) {
      const revision = this.#revision + 1n;
      entry.record = recordWith(prev, { status: effectiveStatus(beat.status, prev.health), reportedStatus: beat.status, load, lastHeartbeatAt: at, modRevision: revision });
      this.#commit({ kind: "put", revision, instance: entry.record, prev });
      return;
    }
    // Load and beat time change on every beat; they are not changes (no revision, no event).
    entry.record = recordWith(prev, { load, lastHeartbeatAt: at });
  }

  async get(key: InstanceKey): Promise<InstanceRecord | undefined> {
    return this.#entries.get(instanceKeyString(key))?.record;
  }

  async list(namespace: string, service?: string): Promise<Snapshot> {
    const instances: InstanceRecord[] = [];
    const ns = this.#services.get(namespace);
    if (ns !== undefined) {
      const maps = service === undefined ? [...ns.values()] : [ns.get(service)];
      for (const m of maps) if (m) for (const e of m.values()) instances.push(e.record);
    }
    return { revision: this.#revision, instances, stale: false };
  }

  async listServices(namespace: string): Promise<ServiceList> {
    const services: ServiceSummary[] = [];
    for (const [name, m] of this.#services.get(namespace) ?? []) {
      const counts: Record<StatusName, number> = { starting: 0, healthy: 0, unhealthy: 0, stopping: 0, unknown: 0 };
      for (const e of m.values()) counts[statusName(e.record.status)]++;
      services.push({ name, counts, total: m.size });
    }
    services.sort((a, b) => (a.name < b.name ? -1 : 1));
    return { revision: this.#revision, services, stale: false };
  }

  async changesSince(revision: bigint): Promise<Change[] | "compacted"> {
    return this.#history.since(revision, this.#revision);
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async listAll(): Promise<Snapshot> {
    return { revision: this.#revision, instances: [...this.#entries.values()].map((e) => e.record), stale: false };
  }

  async setCheckState(key: InstanceKey, expected: readonly CheckState[], next: CheckState, fence: CheckFence): Promise<CheckCommit> {
    const found = this.#checked(key, expected, fence);
    if (typeof found === "string") return found;
    const [, entry] = found;
    const prev = entry.record;
    const health = withCheckState(prev.health, next);
    if (health === undefined) return "gone";
    if (sameHealth(health, prev.health)) return "unchanged";
    const revision = this.#revision + 1n;
    entry.record = recordWith(prev, { status: effectiveStatus(prev.reportedStatus, health), health, modRevision: revision });
    this.#commit({ kind: "put", revision, instance: entry.record, prev });
    return "committed";
  }

  async removeFailedCheck(key: InstanceKey, expected: readonly CheckState[], fence: CheckFence): Promise<Change | "fenced" | "conflict" | "gone"> {
    const found = this.#checked(key, expected, fence);
    if (typeof found === "string") return found;
    return this.#remove(found[0], found[1], "check_failed");
  }

  /** The entry a check commit applies to, or why it does not (the compare-and-set and the fence). */
  #checked(key: InstanceKey, expected: readonly CheckState[], fence: CheckFence): [string, Entry] | "fenced" | "conflict" | "gone" {
    if (fence.node !== this.members.self || fence.epoch !== this.members.view()!.epoch) return "fenced";
    const k = instanceKeyString(key);
    const entry = this.#entries.get(k);
    if (entry === undefined) return "gone";
    if (!sameHealth(entry.record.health, expected)) return "conflict";
    return [k, entry];
  }

  /** Refuses a register that would take the registry past max-checks; else counts the change. */
  #countChecks(delta: number): void {
    const { maxChecks } = this.options.limits;
    if (delta > 0 && this.#checks + delta > maxChecks) throw limitReached("max-checks", maxChecks, `the registry holds ${this.#checks} checks`);
    this.#checks += delta;
  }

  status(): StoreStatus {
    return { revision: this.#revision, instances: this.#entries.size, leases: this.#leases, expiryProtection: this.#guard.active, stale: false };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  /**
   * Expires the leases that are due, unless expiry protection holds them
   * (see ExpiryGuard); runs on a timer, exposed for tests.
   */
  sweep(now = this.#clock.monoMs()): void {
    if (this.#sample(now)) return; // held leases stay queued where they are and are judged when protection ends
    for (let top = this.#heap.peek(); top !== undefined && top.deadline <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      const entry = this.#entries.get(top.key);
      if (entry === undefined || entry.queuedAt !== top.deadline) continue; // gone, or a stale heap entry
      entry.queuedAt = undefined;
      if (entry.deadline === Infinity) continue; // the lease was dropped
      const ttlMs = entry.record.ttlMs;
      if (this.#guard.mayExpire(entry.deadline, ttlMs, now)) this.#remove(top.key, entry, "expired");
      else this.#queue(top.key, entry, this.#guard.expiresAt(entry.deadline, ttlMs)); // renewed, or in its grace
    }
  }

  /** Tells the guard how many leases renewed within their window; returns whether it protects. */
  #sample(now: number): boolean {
    this.#observedAt = now;
    return this.#guard.observe(now, { renewed: this.#renewed.count(now), leases: this.#leases });
  }

  /**
   * Renews a lease (its TTL was `oldTtl`, 0 for none). A renewal that comes
   * when the sweep is overdue (the node was stalled) lets the guard see the
   * state of before first, so renewals that waited out the stall do not hide it.
   */
  #renew(entry: Entry, oldTtl: number, ttlMs: number): void {
    const now = this.#clock.monoMs();
    if (now - this.#observedAt >= 2 * this.options.timing.sweepIntervalMs) this.#sample(now);
    const deadline = now + ttlMs;
    this.#renewed.move(oldTtl > 0 ? renewedUntil(entry.deadline, oldTtl) : undefined, renewedUntil(deadline, ttlMs));
    entry.deadline = deadline;
  }

  #setLease(entry: Entry, key: string, ttlMs: number): void {
    const oldTtl = entry.deadline === Infinity ? 0 : entry.record.ttlMs;
    if (ttlMs === 0) {
      if (oldTtl > 0) {
        this.#renewed.remove(renewedUntil(entry.deadline, oldTtl));
        this.#leases--;
      }
      entry.deadline = Infinity;
      return;
    }
    this.#renew(entry, oldTtl, ttlMs);
    if (oldTtl === 0) this.#leases++;
    // Renewals leave the heap alone; only a deadline earlier than the queued one (a shorter TTL) needs a new entry.
    if (entry.queuedAt === undefined || entry.deadline < entry.queuedAt) this.#queue(key, entry, entry.deadline);
  }

  #queue(key: string, entry: Entry, at: number): void {
    entry.queuedAt = at;
    this.#heap.push({ deadline: at, key });
  }

  #remove(key: string, entry: Entry, cause: RemovalCause): Change {
    const prev = entry.record;
    this.#entries.delete(key);
    this.#checks -= prev.checks.length;
    if (entry.deadline !== Infinity) {
      this.#leases--;
      this.#renewed.remove(renewedUntil(entry.deadline, prev.ttlMs));
    }
    entry.deadline = Infinity;
    const ns = this.#services.get(prev.namespace);
    const svc = ns?.get(prev.service);
    svc?.delete(key);
    if (svc?.size === 0) {
      ns!.delete(prev.service);
      if (ns!.size === 0) this.#services.delete(prev.namespace);
    }
    const change: Change = { kind: "delete", revision: this.#revision + 1n, prev, cause };
    this.#commit(change);
    return change;
  }

  #serviceMap(namespace: string, service: string, create: true): Map<string, Entry> {
    let ns = this.#services.get(namespace);
    if (ns === undefined && create) this.#services.set(namespace, (ns = new Map()));
    let svc = ns!.get(service);
    if (svc === undefined) ns!.set(service, (svc = new Map()));
    return svc;
  }

  #commit(change: Change): void {
    this.#revision = change.revision;
    this.#history.push(change);
    for (const l of this.#listeners) l(change);
  }
}

/** The health of an instance before anything is known (shared: records never change in place). */
const noHealth: readonly CheckState[] = Object.freeze([]);

/** True when a register of `b` over the record `a` changes nothing a client stated. */
function sameSpec(a: InstanceRecord, b: InstanceSpec): boolean {
  if (!sameChecks(a.checks, b.checks)) return false;
  if (a.host !== b.host || a.port !== b.port || a.reportedStatus !== b.status || a.weight !== b.weight || a.zone !== b.zone || a.ttlMs !== b.ttlMs) return false;
  if (a.tags.length !== b.tags.length || a.tags.some((t, i) => t !== b.tags[i])) return false;
  const ak = Object.keys(a.metadata);
  if (ak.length !== Object.keys(b.metadata).length) return false;
  return ak.every((k) => a.metadata[k] === b.metadata[k]);
}
