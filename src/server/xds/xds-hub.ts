import type { Timing } from "../../config.js";
import type { InstanceRecord } from "../../core/types.js";
import type { Store } from "../../store/store.js";
import { endpointsFingerprint, serviceKey, servingInstances, type ServiceRef } from "./resources.js";

/**
 * What the xDS server publishes for one service. `exists` is false for a
 * service with no instance in any status: its Listener and Cluster are then
 * absent, which clients read as "does not exist". `serving` is undefined
 * while an empty set is withheld and nothing was published before it.
 */
export interface PublishedService {
  readonly ref: ServiceRef;
  readonly exists: boolean;
  readonly serving: readonly InstanceRecord[] | undefined;
  /** Grows whenever `exists` or `serving` changes. */
  readonly version: number;
}

/** A party interested in some services: told once per push window of the ones that changed. */
export interface ServiceListener {
  servicesChanged(keys: ReadonlySet<string>): void;
}

interface State {
  published: PublishedService;
  readonly listeners: Set<ServiceListener>;
  /** True while the published set is the last good one and not the store's empty one. */
  held: boolean;
}

/**
 * Keeps, for every service some xDS client asked for, the endpoints to
 * publish, fed by the store subscription that feeds Watch. A burst of changes
 * within xds-push-delay-ms becomes one re-read of each service touched and
 * one notice per interested stream.
 *
 * Push-empty protection: a service's endpoint set never becomes empty through
 * Roster's own fault. While the node is within xds-startup-hold-ms of its
 * start (a restarted memory node whose fleet is re-registering) or of a store
 * resync (Redis came back empty or lost writes: the fleet re-registers the
 * same way), while the store is stale, or while expiry protection holds, an
 * empty set is not published: the last non-empty one stays, or, for a service
 * never published, nothing is sent for its load assignment (clients keep what
 * they had).
 */
export class XdsHub {
  readonly #states = new Map<string, State>();
  readonly #dirty = new Set<string>();
  readonly #unsubscribe: () => void;
  /** When the current start-up or resync hold began: the node's view of the fleet started over then. */
  #viewStartedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #holdTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(
    readonly store: Store,
    readonly timing: Pick<Timing, "xdsPushDelayMs" | "xdsStartupHoldMs">,
    readonly now: () => number = Date.now,
  ) {
    this.#viewStartedAt = now();
    this.#unsubscribe = store.subscribe((c) => {
      const i = c.kind === "put" ? c.instance : c.prev;
      const key = serviceKey(i);
      if (this.#states.has(key)) this.#markDirty(key);
    });
  }

  /** Services with at least one interested stream. */
  get services(): number {
    return this.#states.size;
  }

  /** Starts following a service for `listener`; resolves with what is published for it. */
  async acquire(ref: ServiceRef, listener: ServiceListener): Promise<PublishedService> {
    const key = serviceKey(ref);
    let s = this.#states.get(key);
    if (s === undefined) {
      const instances = (await this.store.list(ref.namespace, ref.service)).instances;
      s = this.#states.get(key);
      if (s === undefined) {
        s = { published: { ref, exists: false, serving: undefined, version: 0 }, listeners: new Set(), held: false };
        this.#states.set(key, s);
        this.#apply(s, instances);
      }
    }
    s.listeners.add(listener);
    return s.published;
  }

  /** Stops following a service for `listener`; the hub forgets a service nobody follows. */
  release(key: string, listener: ServiceListener): void {
    const s = this.#states.get(key);
    if (s === undefined) return;
    s.listeners.delete(listener);
    if (s.listeners.size === 0) this.#states.delete(key);
  }

  /** What is published for a followed service. */
  published(key: string): PublishedService | undefined {
    return this.#states.get(key)?.published;
  }

  /** Stops following the store; streams end through their own signals. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    clearTimeout(this.#timer);
    clearTimeout(this.#holdTimer);
  }

  /**
   * The store reloaded and delivered none of the changes behind the reload
   * (its `onResync`): re-reads every followed service, and withholds empty
   * sets for xds-startup-hold-ms from now, as at a start, because what the
   * store now lacks is what its fleet has yet to re-register, not services
   * that are gone.
   */
  resync(): void {
    if (this.#closed) return;
    this.#viewStartedAt = this.now();
    for (const key of this.#states.keys()) this.#markDirty(key);
  }

  /** True while an empty set would be Roster's own fault rather than the fleet's. */
  holding(): boolean {
    const s = this.store.status();
    return this.now() - this.#viewStartedAt < this.timing.xdsStartupHoldMs || s.stale || s.expiryProtection;
  }

  #markDirty(key: string): void {
    this.#dirty.add(key);
    if (this.#timer === undefined && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#flush();
      }, this.timing.xdsPushDelayMs);
    }
  }

  async #flush(): Promise<void> {
    // One flush at a time keeps the published versions in store order; changes meanwhile wait for the next.
    if (this.#flushing !== undefined) {
      await this.#flushing;
      if (this.#dirty.size > 0 && this.#timer === undefined) return this.#flush();
      return;
    }
    const keys = [...this.#dirty];
    this.#dirty.clear();
    this.#flushing = (async () => {
      const lists = await Promise.all(
        keys.map(async (key) => {
          const s = this.#states.get(key);
          return s === undefined ? undefined : { key, s, instances: (await this.store.list(s.published.ref.namespace, s.published.ref.service)).instances };
        }),
      );
      if (this.#closed) return;
      const changed = new Map<ServiceListener, Set<string>>();
      for (const l of lists) {
        if (l === undefined || this.#states.get(l.key) !== l.s) continue;
        if (!this.#apply(l.s, l.instances)) continue;
        for (const listener of l.s.listeners) {
          let set = changed.get(listener);
          if (set === undefined) changed.set(listener, (set = new Set()));
          set.add(l.key);
        }
      }
      for (const [listener, set] of changed) listener.servicesChanged(set);
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Publishes what the store holds for a service, unless the hold applies; true when the published state changed. */
  #apply(s: State, instances: readonly InstanceRecord[]): boolean {
    const serving = servingInstances(instances);
    const exists = instances.length > 0;
    const prev = s.published;
    if (serving.length === 0 && this.holding()) {
      s.held = true;
      this.#scheduleHoldCheck();
      // During the hold a service is taken to exist: its fleet may be on its way back.
      if (prev.exists) return false;
      s.published = { ref: prev.ref, exists: true, serving: undefined, version: prev.version + 1 };
      return true;
    }
    s.held = false;
    if (prev.exists === exists && prev.serving !== undefined && endpointsFingerprint(prev.serving) === endpointsFingerprint(serving)) return false;
    s.published = { ref: prev.ref, exists, serving, version: prev.version + 1 };
    return true;
  }

  /** Re-reads held services when the start-up or resync hold ends, and once a second while a hold lasts. */
  #scheduleHoldCheck(): void {
    if (this.#holdTimer !== undefined || this.#closed) return;
    const startupLeft = this.#viewStartedAt + this.timing.xdsStartupHoldMs - this.now();
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = undefined;
      for (const [k, s] of this.#states) if (s.held) this.#markDirty(k);
    }, startupLeft > 0 ? Math.min(1000, startupLeft) : 1000);
    this.#holdTimer.unref();
  }
}
