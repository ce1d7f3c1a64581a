import { randomUUID } from "node:crypto";
import type { RedisOptions } from "ioredis";
import { ConfigError } from "../config.js";
import { limitReached, notFound, unavailable } from "../errors.js";
import { sameHealth, withCheckState } from "../core/health.js";
import { instanceKeyString, type Beat, type Change, type CheckState, type InstanceKey, type InstanceRecord, type InstanceSpec, type Snapshot } from "../core/types.js";
import { ExpiryGuard } from "./expiry-guard.js";
import { follows, History, type RevisionJump } from "./history.js";
import { BeatBatcher, type BatchOutcome } from "./redis/beat-batcher.js";
import { ChangeFeed } from "./redis/change-feed.js";
import { callerToken, decodeEntry, decodeRecord, declaredChecks, encodeHealth, encodeOwner, encodeSpec, revisionOfId } from "./redis/codec.js";
import { notOwner, ownerOf, type Caller } from "./caller.js";
import { closeConnections, openConnections, type RedisConnections } from "./redis/connection.js";
import { redact } from "./redis/store-url.js";
import { HealthProbe } from "./redis/health-probe.js";
import { memberId, RedisMembers } from "./redis/members.js";
import { RedisMirror } from "./redis/mirror.js";
import { defineScripts, isLostState, isRebased, keyList, redisKeys, runScript, type RedisKeys, type SetupScript, type WriteScript } from "./redis/scripts.js";
import type { ChangeListener, CheckCommit, CheckFence, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store.js";

/** Options of a RedisStore: those of every store, the key prefix, and optionally ioredis settings. */
export interface RedisStoreOptions extends StoreOptions {
  /** Prefix of every key; it becomes the hash tag `{prefix}` that keeps the registry in one Cluster slot. */
  readonly prefix: string;
  /** Extra ioredis options, merged over the store's own (tests, TLS, credentials). */
  readonly redis?: RedisOptions;
}

/**
 * Where a node stands with Redis:
 * - `connecting`: loading the registry, before `connect` returns;
 * - `live`: the view follows Redis, writes go through;
 * - `stale`: Redis is unreachable or stalled; writes are refused at once, reads and watches serve the last view;
 * - `reloading`: the view is not of Redis's state any more (Redis lost data, or trimmed history the node had not read); it is being rebuilt, writes are refused;
 * - `closed`.
 */
export type RedisStoreState = "connecting" | "live" | "stale" | "reloading" | "closed";

/** Most beats sent in one script call: a script blocks Redis while it runs, so batches stay short. */
const BEAT_BATCH = 1000;
/** Most leases one sweep removes; the rest go on the next sweep. */
const SWEEP_BATCH = 1000;
/** How long a write waits for the node to apply its own change before returning anyway. */
const APPLY_WAIT_MS = 5000;
/** How long a node back from an outage waits to catch up from the stream before it tries again. */
const CATCH_UP_MS = 2000;

interface QueuedBeat {
  readonly key: string;
  readonly beat: Beat;
  /** The caller the script checks against the owner (callerToken). */
  readonly caller: string;
}

interface Waiter {
  readonly revision: bigint;
  readonly done: (reached: boolean) => void;
}

/**
 * The shared store: several registry nodes on one Redis (standalone,
 * Sentinel, or Cluster-ready keys). This class holds the node's state and its
 * transitions; the pieces live under `redis/`: connections and the health
 * probe, the change feed, the beat batcher, the scripts and the codec.
 *
 * Every change is one Lua script that bumps the revision counter, writes the
 * instance and appends the change to a stream whose entry id is the revision.
 * Each node reads that stream, applies it to a local mirror and hands every
 * change to its subscribers in revision order; reads come from the mirror, so
 * they survive an outage (flagged stale). Leases are a sorted set of
 * deadlines on Redis's clock; every node sweeps them with a script, and
 * atomicity makes each expiry one removal.
 *
 * Revisions never repeat and never go backwards, whatever Redis loses: every
 * write script runs only if Redis holds the epoch the node applied its view
 * on and a counter at least the node's revision; otherwise the node rebuilds
 * (see `hello` in redis/scripts.ts), and watchers start over with a reset.
 *
 * Active checks (issue 14): the nodes that share them announce themselves in
 * Redis with a lease (`members`, see redis/members.ts); a check result is a
 * script that commits only for a live member under the membership epoch its
 * owner computed ownership from, and only if the instance's health is still
 * what the owner read (a compare-and-set on the record's health token).
 *
 * @example
 * const store = await RedisStore.connect("redis://127.0.0.1:6379", { limits, timing, prefix: "roster" });
 */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly #conn: RedisConnections;
  readonly #k: RedisKeys;
  readonly #keys: string[];
  readonly #mirror = new RedisMirror();
  readonly #listeners = new Set<ChangeListener>();
  readonly #waiters: Waiter[] = [];
  /** Rejects a write waiting on Redis: a node that goes stale answers them at once instead of after the command timeout. */
  readonly #inFlight = new Set<(e: unknown) => void>();
  readonly #feed: ChangeFeed;
  readonly #probe: HealthProbe;
  readonly #beats: BeatBatcher<QueuedBeat>;
  #state: RedisStoreState = "connecting";
  #history: History;
  /** The last revision applied to the mirror and delivered to subscribers. */
  #applied = 0n;
  /** The highest revision this node has seen or handed out (its own writes may be ahead of #applied). */
  #seen = 0n;
  /** The epoch of the Redis state the mirror was loaded from. */
  #epoch = "";
  /** Counts reloads: entries read for an older view are not applied. */
  #generation = 0;
  #protecting = false;
  /** Judges the cluster-wide renewal counts on Redis's clock; made at the first sample, on that clock. */
  #guard: ExpiryGuard | undefined;
  /** Names this node in Redis: its hold on expiry, and its place in the check membership. */
  readonly #node = memberId();
  /** The nodes that share the active health checks, this one included while its lease holds. */
  readonly members: RedisMembers;
  /** When (local monotonic ms) this node last sampled the renewal counts. */
  #sampledAt = performance.now();
  #sweeping: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #recovering: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    conn: RedisConnections,
    readonly options: RedisStoreOptions,
  ) {
    this.#conn = conn;
    this.#k = redisKeys(options.prefix);
    this.#keys = keyList(this.#k);
    this.#history = new History(options.timing.historySize);
    defineScripts(conn.main);
    this.#beats = new BeatBatcher(BEAT_BATCH, (beats) => this.#sendBeats(beats));
    this.#feed = new ChangeFeed(conn.reader, this.#k.changes, {
      position: () => this.#applied,
      accepting: () => this.#state === "live" || this.#state === "stale",
      generation: () => this.#generation,
      changes: (entries) => {
        for (const e of entries) {
          if (e.kind === "jump") this.#jump(e);
          else this.#commit(e);
        }
      },
      gap: (next, jumpFrom) =>
        this.#lostState(
          jumpFrom === undefined
            ? `the change stream goes on at revision ${next}, after this node's ${this.#applied}`
            : `the registry moved to another Redis primary, which lacks the changes after revision ${jumpFrom} (this node applied up to ${this.#applied})`,
        ),
      failed: (detail) => this.#lost(detail),
    });
    this.#probe = new HealthProbe(conn.probe, this.#k.revision, options.timing.redisHealthTimeoutMs, {
      down: (detail) => this.#lost(detail),
      up: () => void this.#recover(),
    });
    this.members = new RedisMembers({
      self: this.#node,
      leaseMs: options.timing.checkMemberLeaseMs,
      renewMs: options.timing.checkMemberRenewMs,
      renew: async () => {
        const [epoch, joined, ...nodes] = (await this.#run("rosterMembers", [this.#node, options.timing.checkMemberLeaseMs])) as [string, number, ...string[]];
        return { epoch: BigInt(epoch), joined: Number(joined) === 1, nodes };
      },
      leave: async () => {
        await this.#run("rosterLeave", [this.#node]);
      },
      onRejoin: (detail) => options.onMembership?.(detail),
    });
  }

  /**
   * Connects to Redis and loads the registry stored under `options.prefix`.
   * `url` is `redis://`, `rediss://`, `redis+sentinel://` or `rediss+sentinel://` (see connectionOptions in redis/store-url.ts).
   * Throws RosterError unavailable when Redis cannot be reached.
   */
  static async connect(url: string, options: RedisStoreOptions): Promise<RedisStore> {
    if (options.prefix === "" || /[{}]/.test(options.prefix)) {
      throw new ConfigError(`redis-prefix: "${options.prefix}" must be non-empty and without braces (it becomes the hash tag)`);
    }
    let conn: RedisConnections;
    try {
      conn = await openConnections(url, `roster:${options.prefix}`, options.timing.redisHealthTimeoutMs, options.redis);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw unavailable(`cannot reach Redis at ${redact(url)}: ${message(e)}`);
    }
    const store = new RedisStore(conn, options);
    try {
      await store.#rebuild();
    } catch (e) {
      await store.close();
      throw unavailable(`cannot load the registry from Redis at ${redact(url)}: ${message(e)}`);
    }
    store.#state = "live";
    conn.main.on("close", () => store.#lost("lost the connection to Redis"));
    store.#feed.start();
    store.#probe.start();
    store.#schedule();
    await store.members.start();
    return store;
  }

  /** Where this node stands with Redis. */
  get state(): RedisStoreState {
    return this.#state;
  }

  async register(spec: InstanceSpec, caller?: Caller): Promise<RegisterResult> {
    const key = instanceKeyString(spec);
    const { maxInstancesPerService, maxInstances, maxChecks } = this.options.limits;
    const r = (await this.#run("rosterRegister", [key, encodeSpec(spec), spec.ttlMs, maxInstancesPerService, maxInstances, this.options.timing.historySize, declaredChecks(spec.checks), maxChecks, callerToken(caller), encodeOwner(ownerOf(caller))])) as string[];
    const code = Number(r[0]);
    if (code === -1) throw limitReached("max-instances-per-service", maxInstancesPerService, `service ${spec.namespace}/${spec.service} is full`);
    if (code === -2) throw limitReached("max-instances", maxInstances);
    if (code === -3) throw limitReached("max-checks", maxChecks, "the registry runs that many checks already");
    if (code === -4) throw notOwner(key);
    const revision = this.#saw(BigInt(r[1]!));
    const instance = decodeRecord(r[2]!);
    if (code === 0) {
      this.#mirror.beat(key, instance.lastHeartbeatAt, undefined);
      return { instance, created: false, revision };
    }
    const change: Change = code === 1 ? { kind: "put", revision, instance } : { kind: "put", revision, instance, prev: decodeRecord(r[3]!) };
    await this.#applyOwn(change);
    return { instance, created: code === 1, revision };
  }

  async deregister(key: InstanceKey, caller?: Caller): Promise<Change> {
    const k = instanceKeyString(key);
    const r = (await this.#run("rosterDeregister", [k, this.options.timing.historySize, callerToken(caller)])) as string[];
    if (Number(r[0]) === -1) throw notFound(`instance ${k}`);
    if (Number(r[0]) === -2) throw notOwner(k);
    const change: Change = { kind: "delete", revision: this.#saw(BigInt(r[0]!)), prev: decodeRecord(r[1]!), cause: "deregistered" };
    await this.#applyOwn(change);
    return change;
  }

  /** Beats are batched (see BeatBatcher); a node that is not live refuses them at once. */
  async heartbeat(key: InstanceKey, beat: Beat, caller?: Caller): Promise<void> {
    this.#checkWritable();
    await this.#beats.add({ key: instanceKeyString(key), beat, caller: callerToken(caller) });
  }

  /**
   * Commits a check's flip (see `setCheck` in redis/scripts.ts): fenced by
   * the membership in Redis, a compare-and-set on the health token.
   */
  async setCheckState(key: InstanceKey, expected: readonly CheckState[], next: CheckState, fence: CheckFence): Promise<CheckCommit> {
    const health = withCheckState(expected, next);
    // An undeclared check still goes to Redis: the instance may be gone (which wins), or `expected` stale (conflict).
    const unchanged = health !== undefined && sameHealth(health, expected);
    const r = await this.#checkScript("rosterSetCheck", key, expected, fence, [encodeURIComponent(next.name), encodeHealth(health ?? expected), unchanged ? "1" : "0"]);
    if (r[0] !== "committed") return r[0] as CheckCommit;
    await this.#applyOwn({ kind: "put", revision: this.#saw(BigInt(r[1]!)), instance: decodeRecord(r[2]!), prev: decodeRecord(r[3]!) });
    return "committed";
  }

  /** Deregister-after: removes the instance with cause check_failed, under the same fence and compare-and-set. */
  async removeFailedCheck(key: InstanceKey, expected: readonly CheckState[], fence: CheckFence): Promise<Change | "fenced" | "conflict" | "gone"> {
    const r = await this.#checkScript("rosterRemoveCheck", key, expected, fence, []);
    if (r[0] !== "committed") return r[0] as "fenced" | "conflict" | "gone";
    const change: Change = { kind: "delete", revision: this.#saw(BigInt(r[1]!)), prev: decodeRecord(r[2]!), cause: "check_failed" };
    await this.#applyOwn(change);
    return change;
  }

  async get(key: InstanceKey): Promise<InstanceRecord | undefined> {
    return this.#mirror.get(instanceKeyString(key));
  }

  async list(namespace: string, service?: string): Promise<Snapshot> {
    return { revision: this.#applied, instances: this.#mirror.list(namespace, service), stale: this.#isStale() };
  }

  async listAll(): Promise<Snapshot> {
    return { revision: this.#applied, instances: this.#mirror.all(), stale: this.#isStale() };
  }

  async listServices(namespace: string): Promise<ServiceList> {
    return { revision: this.#applied, services: this.#mirror.services(namespace), stale: this.#isStale() };
  }

  /**
   * Answers from the node's own ring of recent changes when it reaches back
   * far enough, else from the stream. Either way it stops at the revision the
   * node has applied when called, so with a subscription taken just before,
   * every change is seen once: older ones here, later ones by the listener.
   * A revision above the node's (another epoch's, or one it has not reached)
   * is "compacted", never "no changes": after a reload the node's revision is
   * above every revision served before the loss, so only a watcher that is
   * up to date on this view gets an empty answer (SEMANTICS 4.2).
   */
  async changesSince(revision: bigint): Promise<Change[] | "compacted"> {
    const current = this.#applied;
    if (revision > current) return "compacted";
    if (revision === current) return [];
    const local = this.#history.since(revision, current);
    if (local !== "compacted" || this.#state !== "live") return local;
    const generation = this.#generation;
    try {
      // One entry first: a revision from before the stream's start is answered without reading the whole stream.
      const first = await this.#conn.main.xrange(this.#k.changes, `${revision + 1n}-0`, `${current}-0`, "COUNT", 1);
      if (first.length === 0 || follows(decodeEntry(first[0]![0], first[0]![1])) !== revision) return "compacted";
      const entries = await this.#conn.main.xrange(this.#k.changes, `${revision + 1n}-0`, `${current}-0`);
      if (generation !== this.#generation || entries.length === 0 || revisionOfId(entries.at(-1)![0]) !== current) return "compacted";
      // The same rule as the node's own ring: continuous from `revision`, through jumps, never across a hole.
      const read = new History(entries.length);
      for (const [id, fields] of entries) read.push(decodeEntry(id, fields));
      return read.since(revision, current);
    } catch {
      return "compacted";
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  status(): StoreStatus {
    return {
      revision: this.#applied,
      instances: this.#mirror.size,
      leases: this.#mirror.leases,
      expiryProtection: this.#protecting,
      stale: this.#isStale(),
    };
  }

  /** Leaves the check membership (its checks move at once, not after its lease), then stops; every call gets the same promise. */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    await this.members.close();
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#probe.stop();
    const closing = unavailable("the store is closing");
    this.#beats.failQueued(closing);
    this.#failInFlight(closing);
    for (const w of this.#waiters.splice(0)) w.done(false);
    this.#listeners.clear();
    const feedStopped = this.#feed.stop();
    await closeConnections(this.#conn);
    await feedStopped;
  }

  /**
   * Loads the mirror from Redis after `hello` (which creates or re-bases the
   * registry when its state is gone). Returns whether this node's earlier
   * view was lost. Retries when another node re-based between the two calls.
   */
  async #rebuild(): Promise<boolean> {
    let lost = false;
    for (let attempt = 0; ; attempt++) {
      const [epoch, , , wasLost] = (await this.#setup("rosterHello", [this.#epoch, String(this.#seen), randomUUID()])) as [string, string, string, number];
      lost ||= Number(wasLost) === 1;
      const r = (await this.#setup("rosterSnapshot", [])) as string[];
      if (r[0] !== epoch && attempt < 3) continue;
      const records: InstanceRecord[] = [];
      for (let i = 3; i < r.length; i += 2) records.push(decodeRecord(r[i]!));
      this.#generation++;
      this.#mirror.reset(records);
      this.#epoch = r[0]!;
      this.#applied = BigInt(r[1]!);
      this.#saw(this.#applied);
      this.#history = new History(this.options.timing.historySize);
      this.#settleWaiters();
      return lost;
    }
  }

  /** The counter jumped from exactly this node's revision (see `rebase` in redis/scripts.ts): nothing was lost, it goes on at the jump's. */
  #jump(jump: RevisionJump): void {
    this.#applied = jump.revision;
    this.#saw(jump.revision);
    this.#history.push(jump);
    this.#settleWaiters();
  }

  #commit(change: Change): void {
    this.#applied = change.revision;
    this.#saw(change.revision);
    this.#mirror.apply(change);
    this.#history.push(change);
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (e) {
        // A broken listener must not stop delivery to the others or the reader; surface it like an uncaught error.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    this.#settleWaiters();
  }

  /**
   * A node applies its own write at once when it is the next revision (so the
   * caller reads its write); otherwise the feed has earlier changes to apply
   * first, and the write returns when it gets there.
   */
  async #applyOwn(change: Change): Promise<void> {
    if (change.revision === this.#applied + 1n && this.#state === "live") this.#commit(change);
    else if (change.revision > this.#applied) await this.#waitApplied(change.revision, APPLY_WAIT_MS);
  }

  #waitApplied(revision: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#applied >= revision) return Promise.resolve(true);
    if (this.#state === "closed") return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (reached: boolean) => {
        clearTimeout(timer);
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(reached);
      };
      const waiter: Waiter = { revision, done };
      this.#waiters.push(waiter);
    });
  }

  #settleWaiters(): void {
    for (const w of [...this.#waiters]) if (w.revision <= this.#applied) w.done(true);
  }

  async #sendBeats(beats: QueuedBeat[]): Promise<BatchOutcome[]> {
    // Beats that waited out a stall of this node must not hide it from expiry protection: sample first (as the memory store does).
    if (performance.now() - this.#sampledAt >= 2 * this.options.timing.sweepIntervalMs) await this.#sweep().catch(() => {});
    const args: (string | number)[] = [this.options.timing.historySize];
    for (const { key, beat, caller } of beats) args.push(key, beat.status === undefined ? "" : String(beat.status), beat.load === undefined ? "" : String(beat.load), caller);
    const r = (await this.#run("rosterHeartbeat", args)) as string[];
    const now = Number(r[0]);
    return beats.map((b, i): BatchOutcome => {
      const code = r[i + 1]!;
      if (code === "-1") return { kind: "failed", error: notFound(`instance ${b.key}`) };
      if (code === "-2") return { kind: "failed", error: notOwner(b.key) };
      if (code === "0") {
        this.#mirror.beat(b.key, now, b.beat.load);
        return { kind: "done" };
      }
      const revision = this.#saw(BigInt(code));
      return { kind: "later", until: this.#waitApplied(revision, APPLY_WAIT_MS).then(() => {}) };
    });
  }

  #schedule(): void {
    if (this.#state === "closed") return;
    this.#timer = setTimeout(() => void this.#tick(), this.options.timing.sweepIntervalMs);
    this.#timer.unref();
  }

  /** Sweeps while live; while stale, tries to come back (the probe also triggers that as soon as Redis answers). */
  async #tick(): Promise<void> {
    try {
      if (this.#state === "live") await this.#sweep();
      else if (this.#state === "stale") await this.#recover();
    } catch {
      // #run has already changed the state if Redis is unreachable or lost data; the next tick tries again.
    } finally {
      this.#schedule();
    }
  }

  /** One sweep at a time: a stalled node's beats may ask for one while the timer runs another. */
  #sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepOnce().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /**
   * Feeds this node's ExpiryGuard with the cluster-wide counts on Redis's
   * clock, then sweeps: while the guard protects, the sweep writes this
   * node's hold and no node expires anything; when protection ends, the
   * grace it grants is written for every node (see `sweep` in redis/scripts.ts).
   */
  async #sweepOnce(): Promise<void> {
    const t = this.options.timing;
    this.#sampledAt = performance.now();
    const [now, renewed, leases] = ((await this.#run("rosterSample", [])) as string[]).map(Number) as [number, number, number];
    this.#guard ??= new ExpiryGuard(
      {
        threshold: t.expiryProtectionThreshold,
        minLeases: t.expiryProtectionMinLeases,
        flapWindowMs: t.expiryProtectionWindowMs,
        maxHoldMs: t.expiryProtectionMaxMs,
        onChange: (active, detail) => this.#setProtection(active, detail),
      },
      now,
    );
    const protecting = this.#guard.observe(now, { renewed, leases });
    // No sweep for this long means no node could reach Redis: a few sweep intervals at least, so one slow sweep is not a stall.
    const stallMs = Math.max(t.redisHealthTimeoutMs, 3 * t.sweepIntervalMs);
    const r = (await this.#run("rosterSweep", [SWEEP_BATCH, t.historySize, stallMs, this.#node, protecting ? 1 : 0, stallMs, this.#guard.graceFrom])) as number[];
    if (!protecting) this.#setProtection(Number(r[0]) === 1, Number(r[0]) === 1 ? "another node's expiry protection holds expiry" : "no node holds expiry");
  }

  /**
   * Runs once Redis answers again after an outage. `hello` says whether
   * Redis still holds what this node applied: if so, the node catches up from
   * the stream; if not, it rebuilds its view (see #reload). Either way every
   * lease gets one TTL of grace from now, on every node: no client could renew
   * through this node while it was away.
   */
  #recover(): Promise<void> {
    if (this.#state !== "stale" || this.#recovering !== undefined) return this.#recovering ?? Promise.resolve();
    const { main, reader } = this.#conn;
    // All connections must be back: a node declared live before its reader is would go stale again at its next XREAD.
    if (main.status !== "ready" || reader.status !== "ready" || !this.#probe.healthy) return Promise.resolve();
    this.#recovering = (async () => {
      try {
        const [epoch, revision, , lost] = (await this.#setup("rosterHello", [this.#epoch, String(this.#seen), randomUUID()])) as [string, string, string, number];
        if (this.#state !== "stale") return;
        if (Number(lost) === 1 || epoch !== this.#epoch) {
          await this.#reload("Redis came back without the state this node applied");
          return;
        }
        if (!(await this.#waitApplied(BigInt(revision), CATCH_UP_MS)) || this.#state !== "stale") return;
        this.#setState("live", `Redis is back; caught up to revision ${this.#applied}`);
      } catch {
        // Still unreachable: the next tick or probe answer tries again.
      } finally {
        this.#recovering = undefined;
      }
    })();
    return this.#recovering;
  }

  /**
   * The node's view is not of Redis's state (a guarded script refused, or the
   * stream jumps past the node): rebuild it, then tell the server, so every
   * watch starts over (SEMANTICS 4.2: never a silent skip).
   */
  #lostState(detail: string): void {
    if (this.#state === "live" || this.#state === "stale") void this.#reload(detail);
  }

  async #reload(why: string): Promise<void> {
    const from = this.#applied;
    this.#setState("reloading", `${why}: reloading`);
    for (;;) {
      if (this.#state !== "reloading") return;
      try {
        await this.#rebuild();
        break;
      } catch {
        // Redis went away again while reloading; try again once it answers.
        await new Promise((r) => setTimeout(r, Math.max(50, this.options.timing.redisHealthTimeoutMs / 4)));
      }
    }
    const detail = `${why}: reloaded at revision ${this.#applied} (this node had applied ${from}); watchers must start over`;
    this.#setState("live", detail);
    this.options.onResync?.(detail);
  }

  /**
   * Runs a write script. It fails at once when the node is not live, and as
   * soon as the node goes stale while it waits (its outcome is then unknown,
   * as after any timeout: the feed shows what Redis did). Connection failures
   * make the node stale; a refusal by the guard makes it reload; other replies
   * Redis refuses (OOM, READONLY...) become unavailable without either.
   */
  #run(name: WriteScript, args: readonly (string | number)[]): Promise<unknown> {
    this.#checkWritable();
    return new Promise((resolve, reject) => {
      const fail = (e: unknown) => reject(e);
      this.#inFlight.add(fail);
      runScript(this.#conn.main, this.#keys, name, [this.#epoch, String(this.#seen), ...args])
        .then(resolve, (e: unknown) => {
          if (isLostState(e)) this.#lostState("Redis does not hold the state this node applied");
          else if (isRebased(e)) this.#moved(message(e));
          else if (!isReplyError(e)) this.#lost(`Redis did not answer: ${message(e)}`);
          reject(unavailable(`Redis: ${message(e)}`));
        })
        .finally(() => this.#inFlight.delete(fail));
    });
  }

  /** Runs setCheck or removeCheck with the fence and compare-and-set arguments in front of `rest`, and the history size last. */
  async #checkScript(name: "rosterSetCheck" | "rosterRemoveCheck", key: InstanceKey, expected: readonly CheckState[], fence: CheckFence, rest: string[]): Promise<string[]> {
    const args = [instanceKeyString(key), encodeHealth(expected), fence.node, String(fence.epoch), ...rest, this.options.timing.historySize];
    return (await this.#run(name, args)) as string[];
  }

  /** Runs hello or snapshot, which take no guard and run in any state but closed. */
  #setup(name: SetupScript, args: readonly (string | number)[]): Promise<unknown> {
    return runScript(this.#conn.main, this.#keys, name, args);
  }

  #saw(revision: bigint): bigint {
    if (revision > this.#seen) this.#seen = revision;
    return revision;
  }

  #checkWritable(): void {
    if (this.#state === "closed") throw unavailable("the store is closed");
    if (this.#state === "reloading") throw unavailable("this node is reloading the registry from Redis; reads are served from its last view");
    if (this.#state !== "live") throw unavailable("Redis is unreachable from this node; reads are served from its last view");
  }

  #isStale(): boolean {
    return this.#state === "stale" || this.#state === "reloading";
  }

  /**
   * This node's write re-based the history on a new primary: like a node back
   * from an outage, it refuses writes until it has caught up past the jump,
   * where its feed finds whether it lost anything (see #recover).
   */
  #moved(detail: string): void {
    this.#lost(detail);
    void this.#recover();
  }

  /** Redis is unreachable or stalled: refuse writes from now on and answer those waiting. */
  #lost(detail: string): void {
    if (this.#state === "live") this.#setState("stale", detail);
  }

  #setState(next: RedisStoreState, detail: string): void {
    const wasStale = this.#isStale();
    this.#state = next;
    const stale = this.#isStale();
    if (stale && !wasStale) {
      const e = unavailable(`Redis: ${detail}`);
      this.#failInFlight(e);
      this.#beats.failQueued(e);
      // Writes waiting for their change to be applied return now rather than hang through the outage.
      for (const w of this.#waiters.splice(0)) w.done(false);
    }
    if (stale !== wasStale) this.options.onStale?.(stale, detail);
  }

  #failInFlight(e: unknown): void {
    for (const fail of [...this.#inFlight]) fail(e);
    this.#inFlight.clear();
  }

  #setProtection(active: boolean, detail: string): void {
    if (active === this.#protecting) return;
    this.#protecting = active;
    this.options.onProtection?.(active, detail);
  }
}

function isReplyError(e: unknown): boolean {
  return e instanceof Error && e.name === "ReplyError";
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
