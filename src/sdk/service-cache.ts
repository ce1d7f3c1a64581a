import type { ClientSecurity } from "./client-security.js";
import { EventEmitter, setMaxListeners } from "node:events";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { WatchEventType, type RemovalReason } from "../../gen/roster/v1/registry_pb.js";
import { Picker, type PickStrategy } from "../core/pick.js";
import { DEFAULT_NAMESPACE, InstanceStatus, instanceKeyString, type InstanceRecord } from "../core/types.js";
import { Backoff, type BackoffOptions } from "../core/backoff.js";
import { AsyncQueue } from "./async-queue.js";
import { keepaliveFor } from "./keepalive.js";
import { runReconnectLoop, type RetryDecision } from "./reconnect-loop.js";
import { RegistryEndpoints, type RegistryAddresses, type RegistryEndpoint } from "./registry-endpoints.js";
import { RosterClientError } from "./roster-client-error.js";
import { WatchView, type ViewChange } from "./watch-view.js";

/**
 * How long a watch may receive nothing before it is abandoned for the next
 * node: three of the registry's default progress intervals (watch-progress-interval, 5 s).
 */
export const defaultWatchIdleTimeoutMs = 15_000;

/** A service to watch, optionally narrowed by a filter (SEMANTICS 4.1). */
export interface WatchTarget {
  readonly service: string;
  /** Tags every instance must carry. */
  readonly tags?: readonly string[];
  /** Metadata entries every instance must carry with these values. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Only instances in this zone. */
  readonly zone?: string;
}

/** Options of a ServiceCache. */
export interface ServiceCacheOptions {
  /** Registry nodes, tried in order on failure; default ROSTER_REGISTRY, then 127.0.0.1:7420. */
  readonly registry?: RegistryAddresses;
  /** Defaults to "default". */
  readonly namespace?: string;
  /** The services to watch, by name or with a filter. */
  readonly services: readonly (string | WatchTarget)[];
  /**
   * Push-empty protection, opt-in: when a service goes from some instances
   * to none, keep serving the last list for this many milliseconds, flagged
   * stale, before believing it. 0 (the default) turns it off.
   */
  readonly protectEmptyMs?: number;
  /** Reconnect delays. */
  readonly backoff?: BackoffOptions;
  /** TLS roots, client certificate and token; default from the environment (see `securityFromEnv`). */
  readonly security?: ClientSecurity;
  /**
   * A watch stream that delivers nothing for this long, not even a progress
   * marker (SEMANTICS 4.4), is given up and reopened on the next node, in
   * milliseconds; default 15 000. Set it to 2 to 3 times the registry's
   * watch-progress-interval. It also sets the connection's pings (a sixth
   * of it), which find a stalled node sooner; the deadline is what finds a
   * node behind a proxy that answers pings for it.
   */
  readonly watchIdleTimeoutMs?: number;
}

/** An instance entered, changed or left a watched service. */
export interface InstanceChange {
  readonly kind: "added" | "updated" | "removed";
  readonly service: string;
  readonly instance: InstanceRecord;
  readonly revision: bigint;
  /** For removals: why; UNSPECIFIED when a rebuild after a reset found the instance gone. */
  readonly reason: RemovalReason;
}

/** Push-empty protection started (`stale: true`) or ended for a service. */
export interface StaleChange {
  readonly kind: "stale";
  readonly service: string;
  readonly stale: boolean;
}

/** What the async iterator of a cache yields. */
export type CacheChange = InstanceChange | StaleChange;

/** A watch stream failed and is retried after `delayMs`. */
export interface WatchRetry {
  readonly service: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly registry: string;
  readonly error: RosterClientError;
}

/** Events of a ServiceCache. */
export interface ServiceCacheEvents {
  /** An instance change, in revision order per service. */
  change: [change: InstanceChange];
  /** The list readers see for `service` changed. */
  instances: [service: string, instances: readonly InstanceRecord[]];
  /** Push-empty protection started or ended. */
  stale: [service: string, stale: boolean];
  /** A snapshot was committed (first sync, or a rebuild after a reset). */
  synced: [service: string, revision: bigint];
  reconnecting: [retry: WatchRetry];
}

/** Options of `pick`. */
export interface PickOptions {
  /** Prefer healthy instances in this zone; fall back to others (SEMANTICS 5.2). */
  readonly preferZone?: string;
}

interface ServiceWatch {
  readonly target: WatchTarget;
  readonly view: WatchView;
  /** The registry incarnation `view.revision` belongs to (see `#epoch`). */
  epoch: string | undefined;
  /** What readers see: the view's list, or the last non-empty one while protected. */
  visible: readonly InstanceRecord[];
  stale: boolean;
  staleTimer: NodeJS.Timeout | undefined;
  synced: Promise<void>;
  markSynced: () => void;
}

/**
 * The calling side of the SDK: a local, always-current copy of some
 * services' instances, kept by one Watch stream per service. Reads are local
 * (no network call). On reconnect each stream resumes from the revision it
 * last applied (SEMANTICS 4.2); a reset is rebuilt off to the side and
 * swapped in whole.
 *
 * `least_loaded` picks by this caller's own in-flight requests (`track`),
 * not by the load instances report: reported load travels on heartbeats and
 * is not a watch event, so a cached copy of it is stale from the start,
 * while the caller's own count is exact, immediate, and is the queue its
 * next request would actually join.
 *
 * @example
 * const cache = new ServiceCache({ services: ["echo"] });
 * await cache.ready();
 * const target = cache.pick("echo", "round_robin");
 * for await (const c of cache) console.log(c.kind, c.service);
 */
export class ServiceCache extends EventEmitter<ServiceCacheEvents> implements AsyncIterable<CacheChange> {
  readonly #endpoints: RegistryEndpoints;
  readonly #namespace: string;
  readonly #protectEmptyMs: number;
  readonly #backoff: BackoffOptions | undefined;
  readonly #idleTimeoutMs: number;
  readonly #watches = new Map<string, ServiceWatch>();
  readonly #picker = new Picker();
  readonly #inFlight = new Map<string, number>();
  readonly #queues = new Set<AsyncQueue<CacheChange>>();
  readonly #closing = new AbortController();
  readonly #loops: Promise<void>[] = [];

  constructor(options: ServiceCacheOptions) {
    super();
    this.#idleTimeoutMs = options.watchIdleTimeoutMs ?? defaultWatchIdleTimeoutMs;
    this.#endpoints = new RegistryEndpoints(options.registry, { keepalive: keepaliveFor(this.#idleTimeoutMs), ...(options.security !== undefined ? { security: options.security } : {}) });
    this.#namespace = options.namespace || DEFAULT_NAMESPACE;
    this.#protectEmptyMs = options.protectEmptyMs ?? 0;
    this.#backoff = options.backoff;
    // Every service's stream and every waiting reader listens to the one closing signal; many services are normal, not a leak.
    setMaxListeners(0, this.#closing.signal);
    for (const t of options.services) {
      const target = typeof t === "string" ? { service: t } : t;
      if (this.#watches.has(target.service)) throw new RosterClientError("invalid_option", `roster: service ${target.service} is listed twice`);
      let markSynced!: () => void;
      const synced = new Promise<void>((resolve) => (markSynced = resolve));
      const w: ServiceWatch = { target, view: new WatchView(), epoch: undefined, visible: [], stale: false, staleTimer: undefined, synced, markSynced };
      this.#watches.set(target.service, w);
    }
    for (const w of this.#watches.values()) this.#loops.push(this.#watch(w));
  }

  /** The namespace watched. */
  get namespace(): string {
    return this.#namespace;
  }

  /** The services watched. */
  get services(): readonly string[] {
    return [...this.#watches.keys()];
  }

  /**
   * Resolves once the service (or every service) has its first snapshot.
   * Rejects when `signal` aborts or the cache closes first.
   */
  ready(service?: string, signal?: AbortSignal): Promise<void> {
    const all = Promise.all(service === undefined ? [...this.#watches.values()].map((w) => w.synced) : [this.#get(service).synced]);
    const stops = [this.#closing.signal, ...(signal ? [signal] : [])];
    return new Promise((resolve, reject) => {
      const stop = () =>
        reject(this.#closing.signal.aborted ? new RosterClientError("closed", "the service cache closed before it was ready") : new RosterClientError("aborted", "gave up waiting for the service cache"));
      if (stops.some((s) => s.aborted)) return stop();
      for (const s of stops) s.addEventListener("abort", stop, { once: true });
      all.then(() => {
        for (const s of stops) s.removeEventListener("abort", stop);
        resolve();
      }, reject);
    });
  }

  /**
   * The instances of a service: healthy ones unless `allStatuses` (as
   * Resolve lists them, SEMANTICS 5.1). While push-empty protection holds,
   * the last non-empty list.
   */
  instances(service: string, options: { readonly allStatuses?: boolean } = {}): readonly InstanceRecord[] {
    const list = this.#get(service).visible;
    return options.allStatuses ? list : list.filter((i) => i.status === InstanceStatus.HEALTHY);
  }

  /** The revision the service's list reflects (0 before the first snapshot). */
  revision(service: string): bigint {
    return this.#get(service).view.revision;
  }

  /** True once the service's first snapshot is in: an empty list then means the service has no instance. */
  hasSnapshot(service: string): boolean {
    return this.#get(service).view.synced;
  }

  /** True while push-empty protection serves a list the registry no longer has. */
  isStale(service: string): boolean {
    return this.#get(service).stale;
  }

  /**
   * Picks a healthy instance locally with one of Resolve's strategies;
   * undefined when none is healthy. Round robin rotates per cache.
   */
  pick(service: string, strategy: PickStrategy = "round_robin", options: PickOptions = {}): InstanceRecord | undefined {
    return this.#picker.pick(this.#get(service).visible, strategy, options.preferZone ?? "", (i) => this.inFlight(i));
  }

  /**
   * Counts a request to `instance` as in flight until the returned function
   * is called; `least_loaded` picks by these counts.
   */
  track(instance: InstanceRecord): () => void {
    const k = instanceKeyString(instance);
    this.#inFlight.set(k, (this.#inFlight.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#inFlight.get(k) ?? 1) - 1;
      if (n <= 0) this.#inFlight.delete(k);
      else this.#inFlight.set(k, n);
    };
  }

  /** Requests in flight to `instance`, as counted by `track`. */
  inFlight(instance: InstanceRecord): number {
    return this.#inFlight.get(instanceKeyString(instance)) ?? 0;
  }

  /** The changes from now on, until the cache closes or the loop breaks. */
  changes(): AsyncIterableIterator<CacheChange> {
    const q: AsyncQueue<CacheChange> = new AsyncQueue(() => this.#queues.delete(q));
    if (this.#closing.signal.aborted) q.end();
    else this.#queues.add(q);
    return q;
  }

  [Symbol.asyncIterator](): AsyncIterator<CacheChange> {
    return this.changes();
  }

  /** Stops every watch, ends the iterators and closes the connections. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    await Promise.all(this.#loops);
    for (const w of this.#watches.values()) clearTimeout(w.staleTimer);
    for (const q of this.#queues) q.end();
    this.#queues.clear();
    this.#endpoints.close();
  }

  #get(service: string): ServiceWatch {
    const w = this.#watches.get(service);
    if (w === undefined) throw new RosterClientError("invalid_option", `roster: service ${service} is not watched by this cache`);
    return w;
  }

  async #watch(w: ServiceWatch): Promise<void> {
    const closing = this.#closing.signal;
    const backoff = new Backoff(this.#backoff);
    const service = w.target.service;
    let delivered = false;
    const decide = (error: RosterClientError): RetryDecision => {
      if (error.code !== Code.ResourceExhausted) return { kind: "wait", failover: true };
      // A watcher cut off for falling behind resumes at once from the same node (SEMANTICS 4.3); a node refusing a new watch (max-watchers) is left.
      return delivered && backoff.attempt === 0 ? { kind: "now" } : { kind: "wait", failover: !delivered };
    };
    await runReconnectLoop({
      endpoints: this.#endpoints,
      backoff,
      signal: closing,
      decide,
      onRetry: ({ attempt, delayMs, endpoint, error }) => this.emit("reconnecting", { service, attempt, delayMs, registry: endpoint.url, error }),
      attempt: async (ep, healthy) => {
        delivered = false;
        try {
          await this.#watchOnce(w, ep, () => {
            delivered = true;
            healthy();
          });
        } finally {
          w.view.abortSnapshot();
        }
      },
    });
  }

  /** Runs one Watch stream of `w` on `ep` until it fails, goes quiet for too long, or the cache closes. */
  async #watchOnce(w: ServiceWatch, ep: RegistryEndpoint, onEvent: () => void): Promise<void> {
    const closing = this.#closing.signal;
    const { service, tags = [], metadata = {}, zone = "" } = w.target;
    const epoch = await this.#epoch(ep, closing);
    const resume = w.view.synced && w.epoch === epoch;
    if (!resume) w.view.beginSnapshot();
    const stream = new AbortController();
    const onClose = () => stream.abort();
    closing.addEventListener("abort", onClose, { once: true });
    let quiet = false;
    // Progress markers come on an idle stream at a fixed interval (SEMANTICS 4.4): silence past the deadline means the node is stuck.
    const idle = setTimeout(() => {
      quiet = true;
      stream.abort();
    }, this.#idleTimeoutMs);
    try {
      const events = ep.client.watch(
        { namespace: this.#namespace, service, filter: { tags: [...tags], metadata: { ...metadata }, zone }, startRevision: resume ? w.view.revision : 0n },
        { signal: stream.signal },
      );
      for await (const ev of events) {
        idle.refresh();
        onEvent();
        this.#publish(w, w.view.apply(ev));
        if (ev.type === WatchEventType.SNAPSHOT_COMPLETE) {
          w.epoch = epoch;
          w.markSynced();
          this.emit("synced", service, w.view.revision);
        }
      }
    } catch (e) {
      if (quiet) throw new RosterClientError("unavailable", `${ep.url} sent nothing on the watch of ${service} for ${this.#idleTimeoutMs} ms, not even a progress marker`, { cause: e });
      throw e;
    } finally {
      clearTimeout(idle);
      closing.removeEventListener("abort", onClose);
    }
  }

  /**
   * Which registry incarnation a revision belongs to. A memory registry
   * starts counting again from 0 after a restart, and two memory nodes count
   * separately, so a revision from one means nothing to the other: resuming
   * there could silently skip changes. The Redis store shares one counter
   * across nodes and restarts, so any node continues it.
   */
  async #epoch(ep: RegistryEndpoint, signal: AbortSignal): Promise<string> {
    const s = await ep.client.getStatus({}, { signal, timeoutMs: Math.min(5000, this.#idleTimeoutMs) });
    return s.store === "memory" ? `memory:${ep.url}:${s.startedAt ? timestampMs(s.startedAt) : 0}` : s.store;
  }

  #publish(w: ServiceWatch, changes: readonly ViewChange[]): void {
    if (changes.length === 0) return;
    const service = w.target.service;
    for (const c of changes) {
      const change: InstanceChange = { ...c, service };
      this.emit("change", change);
      for (const q of this.#queues) q.push(change);
    }
    const next = w.view.list;
    if (next.length === 0 && w.visible.length > 0 && this.#protectEmptyMs > 0) {
      if (!w.stale) {
        w.staleTimer = setTimeout(() => this.#unprotect(w), this.#protectEmptyMs);
        this.#setStale(w, true);
      }
      return;
    }
    if (w.stale) {
      clearTimeout(w.staleTimer);
      w.visible = next;
      this.#setStale(w, false);
    } else {
      w.visible = next;
    }
    this.emit("instances", service, next);
  }

  #unprotect(w: ServiceWatch): void {
    w.visible = w.view.list;
    this.#setStale(w, false);
    this.emit("instances", w.target.service, w.visible);
  }

  #setStale(w: ServiceWatch, stale: boolean): void {
    w.stale = stale;
    this.emit("stale", w.target.service, stale);
    const change: StaleChange = { kind: "stale", service: w.target.service, stale };
    for (const q of this.#queues) q.push(change);
  }
}
