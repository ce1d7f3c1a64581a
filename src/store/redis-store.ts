import { randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { ConfigError } from "../config.js";
import { limitReached, notFound, unavailable } from "../errors.js";
import { instanceKeyString, type Beat, type Change, type InstanceKey, type InstanceRecord, type InstanceSpec, type Snapshot } from "../core/types.js";
import { History } from "./history.js";
import { decodeEntry, decodeRecord, encodeSpec, revisionOfId } from "./redis-codec.js";
import { RedisMirror } from "./redis-mirror.js";
import { defineScripts, keyList, redisKeys, runScript, type RedisKeys, type ScriptName } from "./redis-scripts.js";
import type { ChangeListener, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store.js";

/** Options of a RedisStore: those of every store, the key prefix, and optionally ioredis settings. */
export interface RedisStoreOptions extends StoreOptions {
  /** Prefix of every key; it becomes the hash tag `{prefix}` that keeps the registry in one Cluster slot. */
  readonly prefix: string;
  /** Extra ioredis options, merged over the store's own (tests, TLS, credentials). */
  readonly redis?: RedisOptions;
}

/** Most beats sent in one script call: a script blocks Redis while it runs, so batches stay short. */
const BEAT_BATCH = 1000;
/** Most leases one sweep removes; the rest go on the next sweep. */
const SWEEP_BATCH = 1000;
/** Most stream entries applied per read. */
const READ_BATCH = 1000;
/** How long a write waits for the node to apply its own change before returning anyway. */
const APPLY_WAIT_MS = 5000;

interface PendingBeat {
  readonly key: string;
  readonly beat: Beat;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Waiter {
  readonly revision: bigint;
  readonly done: (reached: boolean) => void;
}

/**
 * The shared store: several registry nodes on one Redis (standalone,
 * Sentinel, or Cluster-ready keys).
 *
 * Every change is one Lua script that bumps the revision counter, writes the
 * instance and appends the change to a stream whose entry id is the revision.
 * Each node reads that stream on one blocking connection, applies it to a
 * local mirror and hands every change to its subscribers in revision order;
 * reads come from the mirror, so they survive an outage (flagged stale).
 * Leases are a sorted set of deadlines on Redis's clock; every node sweeps
 * them with a script, and atomicity makes each expiry one removal.
 *
 * @example
 * const store = await RedisStore.connect("redis://127.0.0.1:6379", { limits, timing, prefix: "roster" });
 */
export class RedisStore implements Store {
  readonly kind = "redis";
  readonly #main: Redis;
  readonly #reader: Redis;
  readonly #k: RedisKeys;
  readonly #keys: string[];
  readonly #mirror = new RedisMirror();
  readonly #listeners = new Set<ChangeListener>();
  readonly #waiters: Waiter[] = [];
  #history: History;
  #beats: PendingBeat[] = [];
  #beatsScheduled = false;
  #beatsInFlight = false;
  /** The last revision applied to the mirror and delivered to subscribers. */
  #applied = 0n;
  #epoch = "";
  /** Redis time when this node started or last came back; leases it has not seen renewed since get one TTL from here. */
  #graceFrom = 0;
  #stale = false;
  /** Set when the stream no longer reaches back to #applied: only a full reload can continue. */
  #needsReload = false;
  #protecting = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> = Promise.resolve();

  private constructor(
    main: Redis,
    reader: Redis,
    readonly options: RedisStoreOptions,
  ) {
    this.#main = main;
    this.#reader = reader;
    this.#k = redisKeys(options.prefix);
    this.#keys = keyList(this.#k);
    this.#history = new History(options.timing.historySize);
    defineScripts(main);
  }

  /**
   * Connects to Redis and loads the registry stored under `options.prefix`.
   * `url` is `redis://`, `rediss://` or `redis+sentinel://[user:pass@]host:port[,host:port...]/masterName`.
   * Throws RosterError unavailable when Redis cannot be reached.
   */
  static async connect(url: string, options: RedisStoreOptions): Promise<RedisStore> {
    if (options.prefix === "" || /[{}]/.test(options.prefix)) {
      throw new ConfigError(`redis-prefix: "${options.prefix}" must be non-empty and without braces (it becomes the hash tag)`);
    }
    const main = new Redis({ ...connectionOptions(url), ...baseOptions, ...options.redis, connectionName: `roster:${options.prefix}` });
    // A blocking XREAD must not time out as an ordinary command; blockingTimeout guards it instead.
    const reader = main.duplicate({ commandTimeout: undefined, blockingTimeout: 30_000, connectionName: `roster:${options.prefix}:stream` });
    main.on("error", () => {});
    reader.on("error", () => {});
    try {
      await Promise.all([main.connect(), reader.connect()]);
    } catch (e) {
      main.disconnect();
      reader.disconnect();
      throw unavailable(`cannot reach Redis at ${redact(url)}: ${message(e)}`);
    }
    const store = new RedisStore(main, reader, options);
    try {
      await store.#start();
    } catch (e) {
      await store.close();
      throw unavailable(`cannot load the registry from Redis at ${redact(url)}: ${message(e)}`);
    }
    return store;
  }

  async register(spec: InstanceSpec): Promise<RegisterResult> {
    const key = instanceKeyString(spec);
    const { maxInstancesPerService, maxInstances } = this.options.limits;
    const r = (await this.#run("rosterRegister", [key, encodeSpec(spec), spec.ttlMs, maxInstancesPerService, maxInstances, this.options.timing.historySize])) as string[];
    const code = Number(r[0]);
    if (code === -1) throw limitReached("max-instances-per-service", maxInstancesPerService, `service ${spec.namespace}/${spec.service} is full`);
    if (code === -2) throw limitReached("max-instances", maxInstances);
    const revision = BigInt(r[1]!);
    const instance = decodeRecord(r[2]!);
    if (code === 0) {
      this.#mirror.beat(key, instance.lastHeartbeatAt, undefined);
      return { instance, created: false, revision };
    }
    const change: Change = code === 1 ? { kind: "put", revision, instance } : { kind: "put", revision, instance, prev: decodeRecord(r[3]!) };
    await this.#applyOwn(change);
    return { instance, created: code === 1, revision };
  }

  async deregister(key: InstanceKey): Promise<Change> {
    const k = instanceKeyString(key);
    const r = (await this.#run("rosterDeregister", [k, this.options.timing.historySize])) as string[];
    if (Number(r[0]) === -1) throw notFound(`instance ${k}`);
    const change: Change = { kind: "delete", revision: BigInt(r[0]!), prev: decodeRecord(r[1]!), cause: "deregistered" };
    await this.#applyOwn(change);
    return change;
  }

  /**
   * Beats are batched: they queue while a batch is in flight and go together
   * in one script call when it returns, so the batch grows with the load and a
   * lone beat waits one round trip, not a timer.
   */
  heartbeat(key: InstanceKey, beat: Beat): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#checkWritable(); // thrown inside the executor, so the caller gets a rejection
      this.#beats.push({ key: instanceKeyString(key), beat, resolve, reject });
      if (!this.#beatsScheduled && !this.#beatsInFlight) {
        this.#beatsScheduled = true;
        setImmediate(() => void this.#flushBeats());
      }
    });
  }

  async get(key: InstanceKey): Promise<InstanceRecord | undefined> {
    return this.#mirror.get(instanceKeyString(key));
  }

  async list(namespace: string, service?: string): Promise<Snapshot> {
    return { revision: this.#applied, instances: this.#mirror.list(namespace, service), stale: this.#stale };
  }

  async listServices(namespace: string): Promise<ServiceList> {
    return { revision: this.#applied, services: this.#mirror.services(namespace), stale: this.#stale };
  }

  /**
   * Answers from the node's own ring of recent changes when it reaches back
   * far enough, else from the stream. Either way it stops at the revision the
   * node has applied when called, so with a subscription taken just before,
   * every change is seen once: older ones here, later ones by the listener.
   */
  async changesSince(revision: bigint): Promise<Change[] | "compacted"> {
    const current = this.#applied;
    if (revision >= current) return [];
    const local = this.#history.since(revision, current);
    if (local !== "compacted" || this.#stale) return local;
    let entries: [string, string[]][];
    try {
      entries = await this.#main.xrange(this.#k.changes, `${revision + 1n}-0`, `${current}-0`);
    } catch {
      return "compacted";
    }
    if (entries.length !== Number(current - revision) || revisionOfId(entries[0]![0]) !== revision + 1n) return "compacted";
    return entries.map(([id, fields]) => decodeEntry(id, fields));
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
      stale: this.#stale,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const b of this.#beats.splice(0)) b.reject(unavailable("the store is closing"));
    for (const w of this.#waiters.splice(0)) w.done(false);
    this.#listeners.clear();
    this.#reader.disconnect();
    await this.#reading;
    await this.#main.quit().catch(() => this.#main.disconnect());
  }

  async #start(): Promise<void> {
    const [epoch, , now] = (await runScript(this.#main, this.#keys, "rosterHello", ["0", "", randomUUID()])) as string[];
    this.#epoch = epoch!;
    this.#graceFrom = Number(now);
    await this.#reload();
    this.#main.on("close", () => this.#lost("lost the connection to Redis"));
    this.#reading = this.#readLoop();
    this.#schedule();
  }

  /** Replaces the mirror with a full, atomic read of Redis. */
  async #reload(): Promise<void> {
    const r = (await runScript(this.#main, this.#keys, "rosterSnapshot", [])) as string[];
    const records: InstanceRecord[] = [];
    for (let i = 2; i < r.length; i += 2) records.push(decodeRecord(r[i]!));
    this.#mirror.reset(records);
    this.#applied = BigInt(r[0]!);
    this.#history = new History(this.options.timing.historySize);
    this.#needsReload = false;
    this.#settleWaiters();
  }

  /** The one reader of the change stream on this node; feeds the mirror and every subscriber. */
  async #readLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      if (this.#needsReload) {
        await sleep(50);
        continue;
      }
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await this.#reader.xread("COUNT", READ_BATCH, "BLOCK", 5000, "STREAMS", this.#k.changes, `${this.#applied}-0`);
        failures = 0;
      } catch (e) {
        if (this.#closed) return;
        this.#lost(`reading the change stream failed: ${message(e)}`);
        await sleep(Math.min(100 * ++failures, 1000));
        continue;
      }
      if (reply !== null) this.#applyEntries(reply[0]![1]);
    }
  }

  #applyEntries(entries: readonly [string, string[]][]): void {
    for (const [id, fields] of entries) {
      const revision = revisionOfId(id);
      if (revision <= this.#applied) continue; // this node applied it already, from its own write
      if (revision !== this.#applied + 1n) {
        // The stream was trimmed past this node (it fell more than historySize behind).
        this.#needsReload = true;
        this.#lost(`the change stream starts at revision ${revision}, after this node's ${this.#applied}: reloading`);
        return;
      }
      this.#commit(decodeEntry(id, fields));
    }
  }

  /**
   * A node applies its own write at once when it is the next revision (so the
   * caller reads its write); otherwise the reader has earlier changes to apply
   * first, and the write returns when the reader gets there.
   */
  async #applyOwn(change: Change): Promise<void> {
    if (change.revision === this.#applied + 1n) this.#commit(change);
    else if (change.revision > this.#applied) await this.#waitApplied(change.revision, APPLY_WAIT_MS);
  }

  #commit(change: Change): void {
    this.#applied = change.revision;
    this.#mirror.apply(change);
    this.#history.push(change);
    // An expiry means a sweep (on any node) found expiry allowed; saying so before
    // the listeners run keeps status() in step with what they see.
    if (change.kind === "delete" && change.cause === "expired") this.#setProtection(false, "leases are expiring again");
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

  #waitApplied(revision: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#applied >= revision) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
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

  async #flushBeats(): Promise<void> {
    this.#beatsScheduled = false;
    this.#beatsInFlight = true;
    try {
      while (this.#beats.length > 0) {
        const batch = this.#beats.splice(0, BEAT_BATCH);
        const args: (string | number)[] = [this.options.timing.historySize];
        for (const { key, beat } of batch) args.push(key, beat.status === undefined ? "" : String(beat.status), beat.load === undefined ? "" : String(beat.load));
        let r: string[];
        try {
          r = (await this.#run("rosterHeartbeat", args)) as string[];
        } catch (e) {
          for (const b of batch) b.reject(e);
          continue;
        }
        const now = Number(r[0]);
        batch.forEach((b, i) => {
          const code = r[i + 1]!;
          if (code === "-1") b.reject(notFound(`instance ${b.key}`));
          else if (code === "0") {
            this.#mirror.beat(b.key, now, b.beat.load);
            b.resolve();
          } else void this.#waitApplied(BigInt(code), APPLY_WAIT_MS).then(() => b.resolve());
        });
      }
    } finally {
      this.#beatsInFlight = false;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#tick(), this.options.timing.sweepIntervalMs);
    this.#timer.unref();
  }

  /** Sweeps; while stale, tries to come back instead (the sweep doubles as the health probe). */
  async #tick(): Promise<void> {
    try {
      if (this.#stale) await this.#recover();
      else await this.#sweep();
    } catch {
      // #run has already marked the store stale if Redis is unreachable; the next tick tries again.
    } finally {
      this.#schedule();
    }
  }

  async #sweep(): Promise<void> {
    const t = this.options.timing;
    const r = (await this.#run("rosterSweep", [this.#graceFrom, t.expiryProtectionThreshold, t.expiryProtectionMinLeases, t.expiryProtectionWindowMs, SWEEP_BATCH, t.historySize, t.sweepIntervalMs])) as number[];
    const [protecting, due, leases, recent] = r.map(Number) as [number, number, number, number];
    if (protecting === 1) {
      const population = leases + recent;
      this.#setProtection(
        true,
        `${due} leases due and ${recent} expired in the last ${t.expiryProtectionWindowMs} ms, ${(((due + recent) / population) * 100).toFixed(0)}% of ${population}: ` +
          `suspending expiry until heartbeats return`,
      );
    } else {
      this.#setProtection(false, due === 0 ? "no lease is due" : `${due} of ${leases} leases due; expiry resumed`);
    }
  }

  /**
   * Runs once Redis answers again after an outage (or after this node fell
   * behind the stream). The node catches up from the stream when it can; if
   * Redis lost its data or trimmed the stream past the node, it reloads, and
   * the changes in between are not delivered to subscribers; onResync tells
   * the server so watchers start over.
   * Either way, leases get one TTL of grace from now: no client could renew
   * while Redis was away.
   */
  async #recover(): Promise<void> {
    // Both connections must be back: the reader reconnects on its own schedule, and a
    // node declared fresh before it is would go stale again at its next XREAD.
    if (this.#main.status !== "ready" || this.#reader.status !== "ready") return;
    const [epoch, revision, now, lost] = (await this.#run("rosterHello", [String(this.#applied), this.#epoch, randomUUID()], true)) as string[];
    let detail: string;
    const wiped = lost === "1" || epoch !== this.#epoch;
    if (wiped || this.#needsReload) {
      const from = this.#applied;
      await this.#reload();
      this.#epoch = epoch!;
      detail = wiped
          ? `Redis came back without this registry's state: reloaded at revision ${this.#applied}; watchers must resynchronise`
          : `reloaded at revision ${this.#applied}: changes ${from + 1n}..${this.#applied} were trimmed before this node read them; watchers must resynchronise`;
    } else {
      if (!(await this.#waitApplied(BigInt(revision!), 2000))) return;
      detail = `Redis is back; caught up to revision ${this.#applied}`;
    }
    this.#graceFrom = Number(now);
    this.#setStale(false, detail);
    if (wiped || this.#needsReload) this.options.onResync?.(detail);
  }

  /**
   * Runs a script. Connection failures mark the node stale and become
   * unavailable; replies Redis refuses (OOM, READONLY...) become unavailable
   * without marking it stale, as the connection itself is fine.
   */
  async #run(name: ScriptName, args: readonly (string | number)[], whileStale = false): Promise<unknown> {
    if (!whileStale) this.#checkWritable();
    try {
      return await runScript(this.#main, this.#keys, name, args);
    } catch (e) {
      if (!isReplyError(e)) this.#lost(`Redis did not answer: ${message(e)}`);
      throw unavailable(`Redis: ${message(e)}`);
    }
  }

  #checkWritable(): void {
    if (this.#closed) throw unavailable("the store is closed");
    if (this.#stale) throw unavailable("Redis is unreachable from this node; reads are served from its last view");
  }

  #lost(detail: string): void {
    if (!this.#closed) this.#setStale(true, detail);
  }

  #setStale(stale: boolean, detail: string): void {
    if (stale === this.#stale) return;
    this.#stale = stale;
    // Writes waiting for their change to be applied return now rather than hang through the outage.
    if (stale) for (const w of this.#waiters.splice(0)) w.done(false);
    this.options.onStale?.(stale, detail);
  }

  #setProtection(active: boolean, detail: string): void {
    if (active === this.#protecting) return;
    this.#protecting = active;
    this.options.onProtection?.(active, detail);
  }
}

/**
 * What the store needs from ioredis: fail fast rather than queue while
 * disconnected (a write must answer UNAVAILABLE, not hang), never resend a
 * write whose reply was lost (the caller decides), reconnect with a backoff
 * capped at one second so the node comes back promptly.
 */
const baseOptions: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: 5000,
  retryStrategy: (times) => Math.min(100 * times, 1000),
};

/** Turns a store URL into ioredis connection options. */
function connectionOptions(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol === "redis:" || u.protocol === "rediss:") {
    const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
    return {
      host: u.hostname,
      port: u.port === "" ? 6379 : Number(u.port),
      db,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    };
  }
  if (u.protocol === "redis+sentinel:") {
    // new URL() cannot parse several hosts, so the authority is split by hand.
    const m = /^redis\+sentinel:\/\/(?:([^:@]*)(?::([^@]*))?@)?([^/]+)\/([^/]+)/.exec(url);
    if (m === null) throw new ConfigError(`store: "${redact(url)}" must be redis+sentinel://host:port[,host:port...]/masterName`);
    const sentinels = m[3]!.split(",").map((hp) => {
      const [host, port] = hp.split(":");
      return { host: host!, port: port ? Number(port) : 26379 };
    });
    return {
      sentinels,
      name: decodeURIComponent(m[4]!),
      ...(m[1] ? { username: decodeURIComponent(m[1]) } : {}),
      ...(m[2] ? { password: decodeURIComponent(m[2]) } : {}),
    };
  }
  throw new ConfigError(`store: "${redact(url)}" is not a redis://, rediss:// or redis+sentinel:// URL`);
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

function isReplyError(e: unknown): boolean {
  return e instanceof Error && e.name === "ReplyError";
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
