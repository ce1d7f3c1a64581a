import { performance } from "node:perf_hooks";
import { limitReached, notFound } from "../errors.js";
import {
  instanceKeyString,
  statusName,
  type Beat,
  type Change,
  type InstanceKey,
  type InstanceRecord,
  type InstanceSpec,
  type ServiceSummary,
  type Snapshot,
  type StatusName,
} from "../core/types.js";
import { ExpiryGuard, renewedUntil } from "./expiry-guard.js";
import { History } from "./history.js";
import { LeaseHeap } from "./lease-heap.js";
import { RenewedLeases } from "./renewed-leases.js";
import type { ChangeListener, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store.js";

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
  }

  async register(spec: InstanceSpec): Promise<RegisterResult> {
    const key = instanceKeyString(spec);
    const existing = this.#entries.get(key);
    const now = Math.floor(this.#clock.wallMs());
    if (existing === undefined) {
      const service = this.#services.get(spec.namespace)?.get(spec.service);
      const { maxInstancesPerService, maxInstances } = this.options.limits;
      if ((service?.size ?? 0) >= maxInstancesPerService) {
        throw limitReached("max-instances-per-service", maxInstancesPerService, `service ${spec.namespace}/${spec.service} is full`);
      }
      if (this.#entries.size >= maxInstances) throw limitReached("max-instances", maxInstances);
      const revision = this.#revision + 1n;
      const record: InstanceRecord = { ...spec, createRevision: revision, modRevision: revision, registeredAt: now, lastHeartbeatAt: now, load: 0 };
      const entry: Entry = { record, deadline: Infinity, queuedAt: undefined };
      this.#entries.set(key, entry);
      this.#serviceMap(spec.namespace, spec.service, true).set(key, entry);
      this.#setLease(entry, key, spec.ttlMs);
      this.#commit({ kind: "put", revision, instance: record });
      return { instance: record, created: true, revision };
    }
    const prev = existing.record;
    this.#setLease(existing, key, spec.ttlMs);
    if (sameSpec(prev, spec)) {
      existing.record = { ...prev, lastHeartbeatAt: now };
      return { instance: existing.record, created: false, revision: this.#revision };
    }
    const revision = this.#revision + 1n;
    existing.record = { ...prev, ...spec, modRevision: revision, lastHeartbeatAt: now };
    this.#commit({ kind: "put", revision, instance: existing.record, prev });
    return { instance: existing.record, created: false, revision };
  }

  async deregister(key: InstanceKey): Promise<Change> {
    const k = instanceKeyString(key);
    const entry = this.#entries.get(k);
    if (entry === undefined) throw notFound(`instance ${k}`);
    return this.#remove(k, entry, "deregistered");
  }

  async heartbeat(key: InstanceKey, beat: Beat): Promise<void> {
    const k = instanceKeyString(key);
    const entry = this.#entries.get(k);
    if (entry === undefined) throw notFound(`instance ${k}`);
    const prev = entry.record;
    if (prev.ttlMs > 0) {
      this.#renew(entry, prev.ttlMs, prev.ttlMs);
    }
    const load = beat.load ?? prev.load;
    const at = Math.floor(this.#clock.wallMs());
    if (beat.status !== undefined && beat.status !== prev.status) {
      const revision = this.#revision + 1n;
      entry.record = { ...prev, status: beat.status, load, lastHeartbeatAt: at, modRevision: revision };
      this.#commit({ kind: "put", revision, instance: entry.record, prev });
      return;
    }
    // Load and beat time change on every beat; they are not changes (no revision, no event).
    entry.record = { ...prev, load, lastHeartbeatAt: at };
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

  #remove(key: string, entry: Entry, cause: "expired" | "deregistered"): Change {
    const prev = entry.record;
    this.#entries.delete(key);
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

function sameSpec(a: InstanceSpec, b: InstanceSpec): boolean {
  if (a.host !== b.host || a.port !== b.port || a.status !== b.status || a.weight !== b.weight || a.zone !== b.zone || a.ttlMs !== b.ttlMs) return false;
  if (a.tags.length !== b.tags.length || a.tags.some((t, i) => t !== b.tags[i])) return false;
  const ak = Object.keys(a.metadata);
  if (ak.length !== Object.keys(b.metadata).length) return false;
  return ak.every((k) => a.metadata[k] === b.metadata[k]);
}
