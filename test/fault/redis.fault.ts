import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { startRedis, type TestRedis } from "../helpers/redis.js";
import { clientFor, sleep } from "../helpers/server.js";
import { startTcpRelay, type TcpRelay } from "../helpers/tcp-relay.js";
import { passed } from "./harness/checker.js";
import { aliveMap, quiesce, verdict } from "./harness/fleet.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { RedisTruth } from "./harness/redis-truth.js";
import { record, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;

describe("Faults with the Redis store (SEMANTICS 2.6, 4.2, 7.2)", function () {
  let redis: TestRedis;
  let prefixes = 0;
  let nodes: RosterNode[] = [];
  let load: Child | undefined;
  let relays: TcpRelay[] = [];
  let truth: RedisTruth | undefined;
  let recorders: Recorder[] = [];

  const prefix = () => `fault-${prefixes}`;
  async function cluster(n: number): Promise<RosterNode[]> {
    prefixes++;
    nodes = await Promise.all(Array.from({ length: n }, () => spawnRoster({ store: redis.url, "redis-prefix": prefix(), "min-ttl-ms": 1000 })));
    truth = new RedisTruth(redis.port, prefix());
    return nodes;
  }

  before(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.finish().catch(() => {});
    await load?.kill();
    load = undefined;
    await Promise.all(nodes.splice(0).map((n) => n.kill()));
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await truth?.close();
    truth = undefined;
  });
  after(async () => {
    await redis?.close();
  });

  it("4.2 redis-server killed and restarted empty, three nodes up, 15 watchers: every watcher resets, none keeps lost instances, final state = Resolve", async () => {
    const [a, b, c] = await cluster(3);
    const fixed = clientFor(a!.url);
    for (let i = 0; i < 10; i++) await fixed.register({ service: "pay", id: `fixed${i}`, host: "10.0.0.2", port: 1 + i });
    const from = Date.now();
    load = await spawnLoad({ registry: [a!.url, b!.url, c!.url], service: "pay", count: 100, ttlMs: TTL });
    recorders = Array.from({ length: 15 }, (_, i) => record(`w${i}`, clientFor(nodes[i % 3]!.url), "pay"));
    await sleep(2000);
    await redis.command("CLIENT PAUSE 3000 WRITE");
    await truth!.settle();
    await redis.stop({ keepData: false });
    truth!.lost();
    await redis.restart();
    const lostAt = Date.now();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 2000);
    const report = await verdict("redis-restart-empty", recorders.splice(0), () => truth!.truth, aliveMap("pay", 100, from, Date.now()), `recoveredInMs=${Date.now() - lostAt - 2000}`);
    assert.ok(passed(report), report.notes.join("\n"));
  });

  it("4.2 Redis restarted empty while no node runs, then nodes start: a watcher resuming from an old revision gets RESET", async () => {
    const [a] = await cluster(1);
    const client = clientFor(a!.url);
    for (let i = 0; i < 20; i++) await client.register({ service: "pay", id: `p${i}`, host: "h", port: 1 + i });
    const old = (await client.resolve({ service: "pay" })).revision;
    await a!.kill();
    nodes = [];
    await redis.stop({ keepData: false });
    await redis.restart();
    nodes = [await spawnRoster({ store: redis.url, "redis-prefix": prefix(), "min-ttl-ms": 1000 })];
    const fresh = clientFor(nodes[0]!.url);
    for (let i = 0; i < 30; i++) await fresh.register({ service: "pay", id: `q${i}`, host: "h", port: 1 + i });
    const first: string[] = [];
    const ac = new AbortController();
    try {
      for await (const e of fresh.watch({ service: "pay", startRevision: old }, { signal: ac.signal, timeoutMs: 3000 })) {
        first.push(String(e.type));
        if (first.length >= 1) break;
      }
    } catch (e) {
      first.push(`error:${ConnectError.from(e).code}`);
    }
    console.log(`      FAULT[redis-empty-before-start] oldRevision=${old} newRevision=${(await fresh.resolve({ service: "pay" })).revision} firstEvent=${first[0]}`);
    assert.equal(first[0], "5", "the first event must be RESET (WatchEventType 5)");
  });

  it("2.6 every client cut off from every Redis node for 10 s (TTL 3 s): protection on every node within a TTL, 0 false expiries", async () => {
    await cluster(3);
    relays = await Promise.all(nodes.map((n) => startTcpRelay(n.port)));
    const truthWatch = record("truth-direct", clientFor(nodes[0]!.url), "pay");
    const from = Date.now();
    load = await spawnLoad({ registry: relays.map((r) => `http://127.0.0.1:${r.port}`), service: "pay", count: 300, ttlMs: TTL });
    await sleep(2000);
    for (const r of relays) r.freeze();
    const cutAt = Date.now();
    // Each node judges the cluster-wide counts itself: time until every node protects.
    const protectedAt: (number | undefined)[] = nodes.map(() => undefined);
    const direct = nodes.map((n) => clientFor(n.url));
    while (Date.now() - cutAt < 10_000) {
      const status = await Promise.all(direct.map((c) => c.getStatus({})));
      status.forEach((st, i) => (protectedAt[i] ??= st.expiryProtection ? Date.now() - cutAt : undefined));
      await sleep(50);
    }
    for (const r of relays) r.thaw();
    await sleep(2 * TTL);
    await truth!.settle();
    const last = Math.max(...protectedAt.map((p) => p ?? Infinity));
    const report = await verdict("redis-partition-all-10s", [truthWatch], () => truth!.truth, aliveMap("pay", 300, from, Date.now()), `protectedAfterMs=${protectedAt.join("/")}`);
    assert.equal(report.falseExpiries, 0);
    // The first lease lapses two beat intervals (2 s) after the cut; the false-expiry count above is the strict check.
    assert.ok(last < TTL, `every node protected ${last} ms after the cut`);
  });

  it("2.6, 7.2 redis-server SIGSTOPped 5 s: 0 false expiries, writes fail fast with UNAVAILABLE, nodes report stale", async () => {
    const [a, b, c] = await cluster(3);
    const from = Date.now();
    load = await spawnLoad({ registry: [a!.url, b!.url, c!.url], service: "pay", count: 200, ttlMs: TTL });
    const watch = record("w", clientFor(c!.url), "pay");
    await sleep(2000);
    redis.pause();
    const t0 = Date.now();
    let failedAfter = -1;
    let code = "none";
    try {
      await clientFor(b!.url).register({ service: "other", id: "x", host: "h", port: 1 }, { timeoutMs: 5000 });
    } catch (e) {
      failedAfter = Date.now() - t0;
      code = Code[ConnectError.from(e).code];
    }
    await sleep(Math.max(0, 2000 - (Date.now() - t0)));
    const stale = await Promise.all(nodes.map((n) => clientFor(n.url).getStatus({}, { timeoutMs: 1000 }).then((s) => s.stale, () => "no answer")));
    await sleep(Math.max(0, 5000 - (Date.now() - t0)));
    redis.resume();
    await sleep(2 * TTL);
    await truth!.settle();
    const report = await verdict("redis-sigstop-5s", [watch], () => truth!.truth, aliveMap("pay", 200, from, Date.now()), `writeFailedAfterMs=${failedAfter} code=${code} staleAt2s=${stale.join("/")}`);
    assert.equal(report.falseExpiries, 0);
    assert.equal(code, "Unavailable");
    assert.ok(failedAfter >= 0 && failedAfter <= 1500, `the write failed after ${failedAfter} ms`);
    assert.deepEqual(stale, [true, true, true]);
  });

  it("2.2, 4.5 SIGKILL of a Redis-store node: no false expiry, all watchers identical (what held)", async () => {
    const [a, b, c] = await cluster(3);
    const from = Date.now();
    load = await spawnLoad({ registry: [b!.url, a!.url, c!.url], service: "pay", count: 200, ttlMs: TTL });
    recorders = [record("onA", clientFor(a!.url), "pay"), record("onC", clientFor(c!.url), "pay")];
    await sleep(1500);
    await b!.kill();
    nodes = [a!, c!];
    await sleep(2 * TTL);
    await truth!.settle();
    const report = await verdict("redis-sigkill-node", recorders.splice(0), () => truth!.truth, aliveMap("pay", 200, from, Date.now()));
    assert.ok(passed(report), report.notes.join("\n"));
  });

  it("2.6 SIGSTOP of one Redis-store node for 2×TTL: no false expiry (what held)", async () => {
    const [a, b, c] = await cluster(3);
    const from = Date.now();
    load = await spawnLoad({ registry: [a!.url, b!.url, c!.url], service: "pay", count: 200, ttlMs: TTL });
    recorders = [record("onB", clientFor(b!.url), "pay")];
    await sleep(1500);
    a!.stop();
    await sleep(2 * TTL);
    a!.cont();
    await sleep(TTL);
    await truth!.settle();
    const report = await verdict("redis-sigstop-node-2ttl", recorders.splice(0), () => truth!.truth, aliveMap("pay", 200, from, Date.now()));
    assert.equal(report.falseExpiries, 0);
  });

  it("2.6 a Redis node SIGSTOPped 20 s with the SDK's defaults (TTL 10 s): the SDK moves the beats to another node in time, 0 false expiries (the one long row)", async () => {
    const [a, b, c] = await cluster(3);
    const from = Date.now();
    load = await spawnLoad({ registry: [a!.url, b!.url, c!.url], service: "pay", count: 100, ttlMs: 10_000 });
    recorders = [record("onB", clientFor(b!.url), "pay")];
    await sleep(1000);
    a!.stop();
    await sleep(20_000);
    a!.cont();
    await sleep(2000);
    await truth!.settle();
    const report = await verdict("redis-node-sigstop-20s-sdk-defaults", recorders.splice(0), () => truth!.truth, aliveMap("pay", 100, from, Date.now()));
    assert.equal(report.falseExpiries, 0);
  });
});
