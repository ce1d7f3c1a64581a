import { recordWith } from "../../core/record.js";
import {
  instanceKeyString,
  statusName,
  type Change,
  type InstanceRecord,
  type ServiceSummary,
  type StatusName,
} from "../../core/types.js";

/**
 * A node's copy of every instance, as of the revision it has applied. Reads
 * are served from here, so they cost no round trip and go on during a Redis
 * outage; it changes only by applying stream entries in revision order (and
 * by beat times and loads, which are not changes).
 */
export class RedisMirror {
  readonly #records = new Map<string, InstanceRecord>();
  /** namespace -> service -> instance key -> record */
  readonly #services = new Map<string, Map<string, Map<string, InstanceRecord>>>();
  #leases = 0;

  get size(): number {
    return this.#records.size;
  }

  /** Instances that hold a lease. */
  get leases(): number {
    return this.#leases;
  }

  get(key: string): InstanceRecord | undefined {
    return this.#records.get(key);
  }

  /** Replaces everything with a full read of Redis. */
  reset(records: Iterable<InstanceRecord>): void {
    this.#records.clear();
    this.#services.clear();
    this.#leases = 0;
    for (const r of records) this.#put(r);
  }

  apply(change: Change): void {
    if (change.kind === "put") this.#put(change.instance);
    else this.#delete(change.prev);
  }

  /** Records a beat that changed only the beat time and load (no revision). */
  beat(key: string, at: number, load: number | undefined): void {
    const r = this.#records.get(key);
    if (r !== undefined) this.#put(recordWith(r, { lastHeartbeatAt: at, load: load ?? r.load }));
  }

  /** Every record. */
  all(): InstanceRecord[] {
    return [...this.#records.values()];
  }

  list(namespace: string, service?: string): InstanceRecord[] {
    const ns = this.#services.get(namespace);
    if (ns === undefined) return [];
    const maps = service === undefined ? [...ns.values()] : [ns.get(service)];
    const out: InstanceRecord[] = [];
    for (const m of maps) if (m) for (const r of m.values()) out.push(r);
    return out;
  }

  services(namespace: string): ServiceSummary[] {
    const out: ServiceSummary[] = [];
    for (const [name, m] of this.#services.get(namespace) ?? []) {
      const counts: Record<StatusName, number> = { starting: 0, healthy: 0, unhealthy: 0, stopping: 0, unknown: 0 };
      for (const r of m.values()) counts[statusName(r.status)]++;
      out.push({ name, counts, total: m.size });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  #put(r: InstanceRecord): void {
    const key = instanceKeyString(r);
    const old = this.#records.get(key);
    if (old !== undefined && old.ttlMs > 0) this.#leases--;
    if (r.ttlMs > 0) this.#leases++;
    this.#records.set(key, r);
    let ns = this.#services.get(r.namespace);
    if (ns === undefined) this.#services.set(r.namespace, (ns = new Map()));
    let svc = ns.get(r.service);
    if (svc === undefined) ns.set(r.service, (svc = new Map()));
    svc.set(key, r);
  }

  #delete(r: InstanceRecord): void {
    const key = instanceKeyString(r);
    const old = this.#records.get(key);
    if (old === undefined) return;
    if (old.ttlMs > 0) this.#leases--;
    this.#records.delete(key);
    const ns = this.#services.get(r.namespace)!;
    const svc = ns.get(r.service)!;
    svc.delete(key);
    if (svc.size === 0) {
      ns.delete(r.service);
      if (ns.size === 0) this.#services.delete(r.namespace);
    }
  }
}
