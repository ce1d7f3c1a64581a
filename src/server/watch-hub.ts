import { create } from "@bufbuild/protobuf";
import { RemovalReason, WatchEventType, WatchResponseSchema, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import type { Limits, Timing } from "../config.js";
import { RosterError, limitReached, unavailable } from "../errors.js";
import { matches, type Filter } from "../core/filter.js";
import { serviceKeyString, type Change, type InstanceRecord, type RemovalCause } from "../core/types.js";
import type { Store } from "../store/store.js";
import { instanceToProto, removalReason } from "./convert.js";

/** What one Watch asks for. */
export interface WatchSpec {
  readonly namespace: string;
  /** Undefined watches every service of the namespace. */
  readonly service: string | undefined;
  readonly filter: Filter;
  /** 0 starts with a snapshot. */
  readonly startRevision: bigint;
}

/** How the hub tells a transport that it ended a watch on its own (see `WatchHub.watch`). */
export interface WatchHooks {
  /**
   * Called once, synchronously, when the hub ends the watch without the
   * client's help: it fell behind (resource_exhausted, with the resume
   * revision in the message) or the node's change feed was interrupted
   * (unavailable). The hub has already freed the watcher's slot and dropped
   * its queue; the transport should end the stream now with this error
   * (trailers, or RST_STREAM if it cannot send them), even if the client is
   * not reading. The iterator throws the same error when next pulled.
   */
  readonly onEnd?: (error: RosterError) => void;
  /**
   * Writes a message straight to the stream when the transport is idle and
   * has room (see `CallContext.offer`); the hub offers only what would be the
   * very next message, so order is kept, and queues it when refused.
   */
  readonly offer?: (message: WatchResponse) => boolean;
}

/** One change on its way to the watchers that were open when it happened, a slice at a time. */
interface FanOut {
  readonly change: Change;
  readonly watchers: Watcher[];
  next: number;
  readonly cache: MessageCache;
  queued: number;
}

/**
 * What a watch starts with, still to send, turned into messages only as the
 * stream drains: the snapshot's instances, or the history replay's changes.
 * Both are references shared with the store, so a watcher that never reads
 * holds pointers, not messages; max-watch-queue bounds what piles up behind.
 */
type LazyStart =
  | { readonly kind: "snapshot"; readonly instances: readonly InstanceRecord[]; next: number; readonly stale: boolean; readonly at: number }
  | { readonly kind: "replay"; readonly changes: readonly Change[]; next: number; readonly at: number };

interface Watcher {
  readonly spec: WatchSpec;
  readonly hooks: WatchHooks;
  /** `hooks.offer`, read once: the fan-out loop calls it for every watcher of every change. */
  readonly offer: ((message: WatchResponse) => boolean) | undefined;
  /** The filter has no condition, so every instance of the watched scope matches without testing it. */
  readonly matchesAll: boolean;
  queue: WatchResponse[];
  /** Goes before index `at` of `queue`. */
  start: LazyStart | undefined;
  /** Index of the next message of `queue` to send; messages before it are sent. */
  head: number;
  /** Changes that arrived while the snapshot or history was being read; undefined once live. */
  pending: Change[] | undefined;
  /** The revision the stream is consistent to once its queue is sent. */
  position: bigint;
  /** The revision of the last event handed to the client, for the resume hint. */
  sent: bigint;
  lastSentAt: number;
  /**
   * True from a yield until the transport pulls again: it holds a message it has not written yet, so nothing may be
   * offered past it (the transport's own idle flag could still read true in the microtask gap).
   */
  yielding: boolean;
  /** Left the hub (ended, cancelled, closed): fan-outs still holding it skip it. */
  closed: boolean;
  failure: RosterError | undefined;
  wake: () => void;
}

/** Counters the hub reports to metrics. */
export interface WatchHubMetrics {
  eventsQueued(n: number): void;
  watcherCutOff(): void;
}

/**
 * Fans store changes out to Watch streams. It subscribes to the store once;
 * each change is matched against the watchers of its service and namespace
 * only, turned into a wire message once per kind, and queued per watcher.
 * A watcher whose queue passes max-watch-queue is ended with
 * RESOURCE_EXHAUSTED and told the revision to resume from (SEMANTICS 4.3).
 */
export class WatchHub {
  readonly #byService = new Map<string, Set<Watcher>>();
  readonly #byNamespace = new Map<string, Set<Watcher>>();
  readonly #all = new Set<Watcher>();
  readonly #unsubscribe: () => void;
  readonly #progressTimer: NodeJS.Timeout;
  /** Changes not yet delivered to every watcher, oldest first. */
  readonly #fanOuts: FanOut[] = [];
  #fanOutScheduled = false;
  readonly #fanOutNext = () => this.#fanOut();
  /** Date.now() read once per fan-out slice: progress markers only need it to within a slice. */
  #sliceNow = Date.now();
  #revision: bigint;

  constructor(
    readonly store: Store,
    readonly limits: Limits,
    readonly timing: Timing,
    readonly metrics?: WatchHubMetrics,
  ) {
    this.#revision = store.status().revision;
    this.#unsubscribe = store.subscribe((c) => this.#dispatch(c));
    const tick = Math.max(50, Math.min(1000, Math.floor(timing.watchProgressIntervalMs / 2)));
    this.#progressTimer = setInterval(() => this.#progress(), tick);
    this.#progressTimer.unref();
  }

  /** Open Watch streams. */
  get watchers(): number {
    return this.#all.size;
  }

  /**
   * Ends every open stream with UNAVAILABLE because the store could not deliver
   * some changes; clients resume from their last revision and, history being
   * gone, get a reset and a fresh snapshot (SEMANTICS 4.2: never a silent skip).
   */
  resync(detail: string): void {
    for (const w of [...this.#all]) this.#end(w, unavailable(`this node's change feed was interrupted (${detail}); resume from your last revision`));
  }

  /** Stops the hub; open streams end when their signals abort. */
  close(): void {
    clearInterval(this.#progressTimer);
    this.#fanOuts.length = 0;
    this.#unsubscribe();
  }

  /**
   * The events of one Watch: snapshot or history first, then live changes,
   * until `signal` aborts. Throws RosterError resource_exhausted at
   * max-watchers or when the watcher falls behind; `hooks.onEnd` hears of
   * the latter at once, even while nobody pulls the iterator.
   */
  async *watch(spec: WatchSpec, signal: AbortSignal, hooks: WatchHooks = {}): AsyncGenerator<WatchResponse> {
    if (this.#all.size >= this.limits.maxWatchers) throw limitReached("max-watchers", this.limits.maxWatchers);
    const w: Watcher = {
      spec,
      hooks,
      offer: hooks.offer,
      matchesAll: isEmpty(spec.filter),
      queue: [],
      start: undefined,
      head: 0,
      pending: [],
      position: spec.startRevision,
      sent: spec.startRevision,
      lastSentAt: Date.now(),
      yielding: false,
      closed: false,
      failure: undefined,
      wake: () => {},
    };
    let wakeUp: (() => void) | undefined;
    w.wake = () => {
      const f = wakeUp;
      wakeUp = undefined;
      f?.();
    };
    const onAbort = () => w.wake();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#add(w);
    try {
      await this.#prime(w);
      for (;;) {
        signal.throwIfAborted();
        if (w.failure) throw w.failure;
        const next = this.#take(w);
        if (next === undefined) {
          await new Promise<void>((resolve) => (wakeUp = resolve));
          continue;
        }
        if (next === "skip") continue;
        const [m, advances] = next;
        // The transport waits for this very call, so a message it takes at once cannot overtake another: a backlog
        // (snapshot, replay, a queue that built up) goes out in one synchronous run until the stream is full.
        if (!w.offer?.(m)) {
          w.yielding = true;
          yield m;
          w.yielding = false;
        }
        if (advances && m.revision > w.sent) w.sent = m.revision;
        w.lastSentAt = Date.now();
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#remove(w);
    }
  }

  /**
   * Takes the next message for `w` off its lazy start or its queue, with whether sending it advances the resume
   * revision (a snapshot's instances and a RESET do not); "skip" when the start's next item means nothing to `w`.
   */
  #take(w: Watcher): [WatchResponse, boolean] | "skip" | undefined {
    const lazy = w.start;
    if (lazy !== undefined && w.head === lazy.at) {
      const m = this.#nextOfStart(w, lazy);
      return m === undefined ? "skip" : [m, lazy.kind === "replay"];
    }
    if (w.head === w.queue.length) return undefined;
    const m = w.queue[w.head++]!;
    if (w.head === w.queue.length && w.start === undefined) {
      w.queue = [];
      w.head = 0;
    }
    return [m, m.type !== WatchEventType.RESET];
  }

  async #prime(w: Watcher): Promise<void> {
    const start = w.spec.startRevision;
    if (start === 0n) {
      await this.#snapshot(w);
    } else if (start > this.store.status().revision) {
      // A revision this registry never reached (e.g. a memory registry that restarted): history cannot answer.
      this.#reset(w);
      await this.#snapshot(w);
    } else {
      const changes = await this.store.changesSince(start);
      if (changes === "compacted") {
        this.#reset(w);
        await this.#snapshot(w);
      } else if (changes.length > 0 && !w.failure) {
        w.start = { kind: "replay", changes, next: 0, at: w.queue.length };
        w.position = changes.at(-1)!.revision;
        w.wake();
      }
    }
    // Pending changes came through the live dispatch, so they are of w's namespace and service.
    for (const c of w.pending ?? []) this.#deliver(w, c, {}, true);
    w.pending = undefined;
    this.#checkQueue(w);
  }

  /**
   * Ends `w` when more than max-watch-queue events wait for it: changes queued while its snapshot or history was
   * read, and every message queued after them. The lazy start itself holds references, not messages (see LazyStart).
   */
  #checkQueue(w: Watcher): boolean {
    const waiting = w.queue.length - w.head + (w.pending?.length ?? 0);
    if (waiting <= this.limits.maxWatchQueue) return false;
    this.#end(w, limitReached("max-watch-queue", this.limits.maxWatchQueue, `the watcher fell behind; resume with start_revision=${w.sent}`));
    this.metrics?.watcherCutOff();
    return true;
  }

  #reset(w: Watcher): void {
    w.queue.push(create(WatchResponseSchema, { type: WatchEventType.RESET, revision: this.#revision, stale: this.store.status().stale }));
  }

  async #snapshot(w: Watcher): Promise<void> {
    const snap = await this.store.list(w.spec.namespace, w.spec.service);
    if (w.failure) return;
    // Records are shared with the store; their messages are built one by one as the stream drains,
    // so a watcher that never reads holds references, not a copy of the snapshot (max-watch-queue
    // then bounds what piles up behind it).
    const instances = snap.instances.filter((i) => matches(w.spec.filter, i));
    if (instances.length > 0) w.start = { kind: "snapshot", instances, next: 0, stale: snap.stale, at: w.queue.length };
    w.queue.push(create(WatchResponseSchema, { type: WatchEventType.SNAPSHOT_COMPLETE, revision: snap.revision, stale: snap.stale }));
    w.position = snap.revision;
    w.wake();
  }

  #dispatch(change: Change): void {
    this.#revision = change.revision;
    const inst = change.kind === "put" ? change.instance : change.prev;
    // The watchers open now; one that opens later reads a snapshot or history that already holds this change.
    const watchers: Watcher[] = [];
    for (const set of [this.#byService.get(serviceKeyString(inst.namespace, inst.service)), this.#byNamespace.get(inst.namespace)]) {
      if (set !== undefined) for (const w of set) watchers.push(w);
    }
    if (watchers.length === 0) return;
    this.#fanOuts.push({ change, watchers, next: 0, cache: {}, queued: 0 });
    if (!this.#fanOutScheduled) this.#fanOut();
  }

  /**
   * Delivers pending changes, oldest first, to at most max-watchers-per-fanout-slice watchers and for at most
   * max-fanout-slice-micros, then lets the event loop through and goes on: a large fan-out does not hold up the calls
   * that arrive during it. Every watcher still gets its changes in revision order, since a later change waits for the
   * earlier one to reach everybody.
   */
  #fanOut(): void {
    this.#fanOutScheduled = false;
    this.#sliceNow = Date.now();
    let budget = this.limits.maxWatchersPerFanoutSlice;
    const until = performance.now() + this.limits.maxFanoutSliceMicros / 1000;
    for (;;) {
      const job = this.#fanOuts[0];
      if (job === undefined) return;
      while (job.next < job.watchers.length) {
        // The clock is read every few watchers only: one delivery costs a few microseconds.
        if (budget-- === 0 || ((budget & 15) === 0 && performance.now() >= until)) {
          this.#fanOutScheduled = true;
          setImmediate(this.#fanOutNext);
          return;
        }
        const w = job.watchers[job.next++]!;
        if (w.failure || w.closed) continue;
        if (w.pending !== undefined) {
          w.pending.push(job.change);
          this.#checkQueue(w);
        } else job.queued += this.#deliver(w, job.change, job.cache, true);
      }
      this.#fanOuts.shift();
      if (job.queued > 0) this.metrics?.eventsQueued(job.queued);
    }
  }

  /** The next message of a lazy start, or undefined when its next item means nothing to `w`; drops it when used up. */
  #nextOfStart(w: Watcher, lazy: LazyStart): WatchResponse | undefined {
    if (lazy.kind === "snapshot") {
      const i = lazy.instances[lazy.next++];
      if (lazy.next >= lazy.instances.length) w.start = undefined;
      return i === undefined ? undefined : snapshotMessage(i, lazy.stale);
    }
    const c = lazy.changes[lazy.next++];
    if (lazy.next >= lazy.changes.length) w.start = undefined;
    return c === undefined ? undefined : this.#messageFor(w, c, {}, false);
  }

  /**
   * Queues what `change` means to `w`, once; returns how many events were queued. `scoped`: the change is one of
   * `w`'s namespace and service already (live dispatch picks watchers by them).
   */
  #deliver(w: Watcher, change: Change, cache: MessageCache, scoped: boolean): number {
    if (change.revision <= w.position || w.failure) return 0;
    w.position = change.revision;
    const m = this.#messageFor(w, change, cache, scoped);
    if (m === undefined) return 0;
    if (!w.yielding && w.head === w.queue.length && w.start === undefined && w.pending === undefined && w.offer?.(m)) {
      if (m.revision > w.sent) w.sent = m.revision;
      w.lastSentAt = this.#sliceNow;
      return 1;
    }
    w.queue.push(m);
    // While priming, what piled up is checked at once when priming ends (see #prime).
    if (w.pending !== undefined || !this.#checkQueue(w)) w.wake();
    return 1;
  }

  /** What `change` means to `w`'s view, if anything; `scoped` as for `#deliver`. */
  #messageFor(w: Watcher, change: Change, cache: MessageCache, scoped: boolean): WatchResponse | undefined {
    if (!scoped) {
      const inst = change.kind === "put" ? change.instance : change.prev;
      // History replay hands every change to every watcher; live dispatch is already scoped by the indexes.
      if (inst.namespace !== w.spec.namespace || (w.spec.service !== undefined && inst.service !== w.spec.service)) return undefined;
    }
    const f = w.spec.filter;
    const all = w.matchesAll;
    const before = change.prev !== undefined && (all || matches(f, change.prev));
    let m: WatchResponse | undefined;
    if (change.kind === "put") {
      const after = all || matches(f, change.instance);
      if (after) m = message(cache, before ? "updated" : "added", change, change.instance, this.store);
      else if (before) m = message(cache, "unmatched", change, change.prev!, this.store);
    } else if (before) {
      m = message(cache, change.cause, change, change.prev, this.store);
    }
    return m;
  }

  /** Ends a watch from the hub's side: frees its slot and its queue now, then tells the transport. */
  #end(w: Watcher, error: RosterError): void {
    if (w.failure) return;
    w.failure = error;
    w.queue = [];
    w.head = 0;
    w.start = undefined;
    w.pending = undefined;
    this.#remove(w);
    w.wake();
    w.hooks.onEnd?.(error);
  }

  #progress(): void {
    // A marker claims the watcher has every change up to the hub's revision: not while some are still on their way.
    if (this.#fanOuts.length > 0) return;
    const now = Date.now();
    const interval = this.timing.watchProgressIntervalMs;
    let m: WatchResponse | undefined;
    for (const w of this.#all) {
      if (w.pending !== undefined || w.start !== undefined || w.head < w.queue.length || now - w.lastSentAt < interval) continue;
      m ??= create(WatchResponseSchema, { type: WatchEventType.PROGRESS, revision: this.#revision, stale: this.store.status().stale });
      if (this.#revision > w.position) w.position = this.#revision;
      w.queue.push(m);
      w.lastSentAt = now;
      w.wake();
    }
  }

  #add(w: Watcher): void {
    const { namespace, service } = w.spec;
    const [index, key] = service === undefined ? [this.#byNamespace, namespace] : [this.#byService, serviceKeyString(namespace, service)];
    let set = index.get(key);
    if (set === undefined) index.set(key, (set = new Set()));
    set.add(w);
    this.#all.add(w);
  }

  #remove(w: Watcher): void {
    w.closed = true;
    const { namespace, service } = w.spec;
    const [index, key] = service === undefined ? [this.#byNamespace, namespace] : [this.#byService, serviceKeyString(namespace, service)];
    const set = index.get(key);
    set?.delete(w);
    if (set?.size === 0) index.delete(key);
    this.#all.delete(w);
  }
}

/** True when the filter has no condition at all. */
function isEmpty(f: Filter): boolean {
  if (f.zone !== "" || f.tags.length > 0) return false;
  for (const _ in f.metadata) return false;
  return true;
}

// Records are immutable (a change replaces them), so every watcher whose snapshot holds one shares one
// message, and the transport's per-message envelope cache encodes it once for all of them.
const snapshotMessages = { fresh: new WeakMap<InstanceRecord, WatchResponse>(), stale: new WeakMap<InstanceRecord, WatchResponse>() };

function snapshotMessage(i: InstanceRecord, stale: boolean): WatchResponse {
  const cache = stale ? snapshotMessages.stale : snapshotMessages.fresh;
  let m = cache.get(i);
  if (m === undefined) {
    m = create(WatchResponseSchema, { type: WatchEventType.ADDED, revision: i.modRevision, instance: instanceToProto(i), stale });
    cache.set(i, m);
  }
  return m;
}

type EventKind = "added" | "updated" | "unmatched" | RemovalCause;
type MessageCache = Partial<Record<EventKind, WatchResponse>>;

// Every watcher that sees a change the same way gets the same message object.
function message(cache: MessageCache, kind: EventKind, change: Change, instance: InstanceRecord, store: Store): WatchResponse {
  let m = cache[kind];
  if (m === undefined) {
    const type = kind === "added" ? WatchEventType.ADDED : kind === "updated" ? WatchEventType.UPDATED : WatchEventType.REMOVED;
    const reason = type === WatchEventType.REMOVED ? removalReason(kind as "unmatched" | RemovalCause) : RemovalReason.UNSPECIFIED;
    m = create(WatchResponseSchema, { type, revision: change.revision, instance: instanceToProto(instance), reason, stale: store.status().stale });
    cache[kind] = m;
  }
  return m;
}
