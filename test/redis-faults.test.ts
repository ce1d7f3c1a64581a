import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { resolveConfig, type Timing } from "../src/config.js";
import { RosterError } from "../src/errors.js";
import type { Change } from "../src/core/types.js";
import { RedisStore } from "../src/store/redis-store.js";
import { freePort, sleep, until } from "./helpers/server.js";
import { spec } from "../src/store/contract/index.js";

/** A redis-server this file controls by signal (the shared helper does not expose its process). */
interface PausableRedis {
  readonly url: string;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL and start again on the same port, empty. */
  restartEmpty(): Promise<void>;
  close(): Promise<void>;
}

async function startPausableRedis(): Promise<PausableRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "roster-faults-"));
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 20 });
    probe.on("error", () => {});
    await until("redis-server answers", async () => (await probe.ping().catch(() => "")) === "PONG", 5000);
    probe.disconnect();
  };
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGCONT");
    proc.kill("SIGKILL");
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    signal: (sig) => proc.kill(sig),
    restartEmpty: async () => {
      await kill();
      await launch();
    },
    close: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Node {
  readonly store: RedisStore;
  readonly seen: Change[];
  readonly resyncs: string[];
}

const isUnavailable = (e: unknown) => e instanceof RosterError && e.kind === "unavailable";

describe("Redis faults (SEMANTICS 2.6, 4.2, 7.2)", function () {
  this.timeout(60_000);
  let redis: PausableRedis;
  let nodes: Node[] = [];
  let prefixes = 0;
  let prefix = "";

  async function node(timing: Partial<Timing> = {}): Promise<Node> {
    const config = resolveConfig({ limits: { minTtlMs: 200 }, timing: { sweepIntervalMs: 50, ...timing } });
    const resyncs: string[] = [];
    const store = await RedisStore.connect(redis.url, { limits: config.limits, timing: config.timing, prefix, onResync: (d) => resyncs.push(d) });
    const seen: Change[] = [];
    store.subscribe((c) => seen.push(c));
    const n = { store, seen, resyncs };
    nodes.push(n);
    return n;
  }

  before(async () => {
    redis = await startPausableRedis();
  });
  beforeEach(() => {
    prefix = `faults-${++prefixes}`;
  });
  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.store.close()));
    nodes = [];
  });
  after(async () => {
    await redis?.close();
  });

  it("4.2 Redis restarted empty under three nodes: every node reloads and resets, and no resume revision from before is answered 'no changes'", async () => {
    const ns = [await node(), await node(), await node()];
    for (let i = 0; i < 10; i++) await ns[i % 3]!.store.register(spec({ id: `i${i}` }));
    await until("every node applied every change", () => ns.every((n) => n.seen.length === 10));
    const before = ns.map((n) => n.store.status().revision);
    await redis.restartEmpty();
    await until("every node reloaded", () => ns.every((n) => n.resyncs.length > 0 && n.store.state === "live"), 15_000);
    for (const [i, n] of ns.entries()) {
      assert.equal(n.store.status().instances, 0, "no lost instance is kept");
      assert.ok(n.store.status().revision > before[i]!, "revisions never go backwards");
      for (const r of [before[i]!, before[i]! - 3n]) assert.equal(await n.store.changesSince(r), "compacted", `resume from ${r}`);
    }
    const r = await ns[0]!.store.register(spec({ id: "after" }));
    assert.ok(r.revision > before[0]!);
    await until("every node sees the new write", () => ns.every((n) => n.seen.some((c) => c.revision === r.revision)));
  });

  it("4.2 Redis restarted empty while no node runs: revisions start above the old ones and an old resume revision is compacted", async () => {
    const a = await node();
    for (let i = 0; i < 5; i++) await a.store.register(spec({ id: `i${i}` }));
    const old = a.store.status().revision;
    await a.store.close();
    nodes = [];
    await redis.restartEmpty();
    const b = await node();
    assert.ok(b.store.status().revision > old, `${b.store.status().revision} after ${old}`);
    assert.equal(await b.store.changesSince(old), "compacted");
    assert.equal(await b.store.changesSince(old - 2n), "compacted");
  });

  it("4.2 Redis lost its latest writes (a rollback without a disconnect): the guard refuses the next write, nodes re-base above every revision seen and reset", async () => {
    const [a, b] = [await node(), await node()];
    await a.store.register(spec({ id: "kept" }));
    await until("b applied it", () => b.seen.length === 1);
    const admin = new Redis(redis.url);
    const k = `{${prefix}}`;
    const snapshot = await admin.get(`${k}:revision`);
    for (let i = 0; i < 4; i++) await a.store.register(spec({ id: `lost${i}` }));
    await until("b applied them", () => b.seen.length === 5);
    const high = a.store.status().revision;
    // Redis forgets the last four writes: the counter goes back, as after a failover to a replica that lagged.
    await admin.set(`${k}:revision`, snapshot!);
    await admin.quit();
    await until("both nodes reloaded", () => a.resyncs.length > 0 && b.resyncs.length > 0 && a.store.state === "live" && b.store.state === "live", 10_000);
    for (const n of [a, b]) {
      assert.ok(n.store.status().revision > high);
      assert.equal(await n.store.changesSince(high), "compacted");
    }
    const r = await b.store.register(spec({ id: "new" }));
    assert.ok(r.revision > high, "no revision is handed out twice");
  });

  it("7.2 SIGSTOP of Redis for 5 s with TTL 3 s: writes UNAVAILABLE within about a second, status stale, no lease expires", async () => {
    const [a, b] = [await node(), await node()];
    for (let i = 0; i < 20; i++) await [a, b][i % 2]!.store.register(spec({ id: `i${i}`, ttlMs: 3000 }));
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await Promise.all(Array.from({ length: 20 }, (_, i) => [a, b][i % 2]!.store.heartbeat(spec({ id: `i${i}` }), {}).catch(() => {})));
        await sleep(300);
      }
    })();
    try {
      redis.signal("SIGSTOP");
      const stoppedAt = Date.now();
      await until("both nodes stale", () => a.store.status().stale && b.store.status().stale, 3000);
      const noticed = Date.now() - stoppedAt;
      assert.ok(noticed < 1600, `noticed after ${noticed} ms`);
      const t0 = Date.now();
      await assert.rejects(a.store.register(spec({ id: "new" })), isUnavailable);
      assert.ok(Date.now() - t0 < 50, "refused at once");
      await sleep(5000 - (Date.now() - stoppedAt));
      redis.signal("SIGCONT");
      await until("both nodes live", () => a.store.state === "live" && b.store.state === "live", 10_000);
      await sleep(3500); // longer than the TTL, with heartbeats back
    } finally {
      beating = false;
      redis.signal("SIGCONT");
      await beats;
    }
    for (const n of [a, b]) assert.deepEqual(n.seen.filter((c) => c.kind === "delete"), [], "no false expiry");
    assert.equal(a.store.status().instances, 20);
  });
});
