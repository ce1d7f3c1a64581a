import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { RemovalReason, WatchEventType, type RegistryService, type WatchResponse } from "../gen/roster/v1/registry_pb.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { clientFor, freePort, sleep, startTestServer, until, type TestServer } from "./helpers/server.js";
import { collectWatch, type Collected } from "./helpers/watch.js";

type RegistryClient = Client<typeof RegistryService>;
const instance = (id: string) => ({ service: "pay", id });

/**
 * Sends a heartbeat every `everyMs` on one stream until stopped or until the
 * stream fails; the result says how it ended.
 */
function beat(client: RegistryClient, id: string, everyMs = 150) {
  let open = true;
  async function* requests() {
    yield instance(id);
    while (open) {
      await sleep(everyMs);
      if (open) yield {};
    }
  }
  const result = client.heartbeat(requests()).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  return {
    result,
    stop: async () => {
      open = false;
      return result;
    },
  };
}

/** Like an SDK: keeps a heartbeat going, reopening the stream after a failure. */
function keepBeating(client: RegistryClient, id: string) {
  let running = true;
  let current: ReturnType<typeof beat> | undefined;
  const loop = (async () => {
    while (running) {
      current = beat(client, id);
      await current.result;
      if (running) await sleep(100);
    }
  })();
  return async () => {
    running = false;
    await current?.stop();
    await loop;
  };
}

/** The changes a watcher saw, markers left out, as comparable strings. */
function changes(w: Collected): string[] {
  return w.events
    .filter((e: WatchResponse) => e.type === WatchEventType.ADDED || e.type === WatchEventType.UPDATED || e.type === WatchEventType.REMOVED)
    .map((e) => `${e.revision}:${WatchEventType[e.type]}:${e.instance?.id}:${e.reason}`);
}

/** `roster serve` in its own process, so the test can SIGKILL it. */
async function spawnNode(redisUrl: string, prefix: string): Promise<{ client: RegistryClient; child: ChildProcess }> {
  const port = await freePort();
  const bin = fileURLToPath(new URL("../bin/roster.js", import.meta.url));
  const args = ["serve", "--port", String(port), "--store", redisUrl, "--redis-prefix", prefix, "--min-ttl-ms", "200", "--sweep-interval-ms", "50", "--log-level", "info"];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  await until("the spawned node to listen", () => output.includes(`"url":"http://127.0.0.1:${port}"`) || child.exitCode !== null, 20_000);
  assert.equal(child.exitCode, null, output);
  return { client: clientFor(`http://127.0.0.1:${port}`), child };
}

describe("Three registry nodes on one Redis (SEMANTICS 2.2, 4.5, 7.2)", function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let a: TestServer;
  let c: TestServer;
  let prefixes = 0;
  const open: { close(): Promise<void> }[] = [];

  async function node(prefix: string): Promise<TestServer> {
    const t = await startTestServer({ store: redis.url, redisPrefix: prefix, limits: { minTtlMs: 200 }, timing: { sweepIntervalMs: 50 } });
    open.push(t);
    return t;
  }

  before(async () => {
    redis = await startRedis();
  });
  beforeEach(async () => {
    const prefix = `cluster-${++prefixes}`;
    [a, c] = [await node(prefix), await node(prefix)];
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  after(async () => {
    await redis?.close();
  });

  it("register on A, heartbeat on B, watch on C; B killed, heartbeat moved to A: no removal, no duplicate", async () => {
    const b = await spawnNode(redis.url, `cluster-${prefixes}`);
    const onC = collectWatch(c.client, { service: "pay" });
    const onA = collectWatch(a.client, { service: "pay" });
    try {
      await Promise.all([onC.waitFor(1), onA.waitFor(1)]);
      await a.client.register({ ...instance("p1"), host: "10.0.0.1", port: 1, ttl: { seconds: 1n } });
      const toB = beat(b.client, "p1");
      await sleep(600);
      b.child.kill("SIGKILL");
      const broken = await toB.result;
      assert.ok(broken !== undefined, "the stream to the killed node must fail");
      await sleep(200); // an SDK notices and reconnects elsewhere
      const toA = beat(a.client, "p1");
      await sleep(1800); // well past the 1 s TTL
      assert.equal(await toA.stop(), undefined);
      assert.equal((await c.client.resolve({ service: "pay" })).instances.length, 1);
      assert.deepEqual(onC.events.map((e) => e.type), [WatchEventType.SNAPSHOT_COMPLETE, WatchEventType.ADDED], "no removal, no duplicate");
      assert.deepEqual(changes(onA), changes(onC));
    } finally {
      if (b.child.exitCode === null) b.child.kill("SIGKILL");
      await Promise.all([onA.stop(), onC.stop()]);
    }
  });

  it("two watchers on different nodes see identical event sequences", async () => {
    const onA = collectWatch(a.client, { service: "pay" });
    const onC = collectWatch(c.client, { service: "pay" });
    try {
      await Promise.all([onA.waitFor(1), onC.waitFor(1)]);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => [a, c][i % 2]!.client.register({ ...instance(`p${i}`), host: "h", port: i + 1, ttl: { seconds: 30n } })),
      );
      await Promise.all([
        c.client.deregister(instance("p0")),
        a.client.deregister(instance("p1")),
        a.client.register({ ...instance("p2"), host: "h", port: 99, ttl: { seconds: 30n } }),
      ]);
      await until("both watchers have every change", () => changes(onA).length === 23 && changes(onC).length === 23);
      assert.deepEqual(changes(onC), changes(onA));
    } finally {
      await Promise.all([onA.stop(), onC.stop()]);
    }
  });

  it("many leases expiring at once, swept by several nodes: each removal delivered exactly once", async () => {
    const onA = collectWatch(a.client, { service: "pay" });
    const onC = collectWatch(c.client, { service: "pay" });
    try {
      await Promise.all([onA.waitFor(1), onC.waitFor(1)]);
      // A long-lived majority keeps expiry protection out of the way: this is about exactly-once.
      await Promise.all(Array.from({ length: 60 }, (_, i) => [a, c][i % 2]!.client.register({ ...instance(`keep${i}`), host: "h", port: 1, ttl: { seconds: 60n } })));
      await Promise.all(Array.from({ length: 40 }, (_, i) => [a, c][i % 2]!.client.register({ ...instance(`p${i}`), host: "h", port: 1, ttl: { nanos: 300_000_000 } })));
      const removed = (w: Collected) => w.events.filter((e) => e.type === WatchEventType.REMOVED);
      await until("40 removals on both nodes", () => removed(onA).length >= 40 && removed(onC).length >= 40, 10_000);
      await sleep(200);
      for (const w of [onA, onC]) {
        const ids = removed(w).map((e) => e.instance!.id);
        assert.equal(ids.length, 40);
        assert.equal(new Set(ids).size, 40);
        assert.ok(removed(w).every((e) => e.reason === RemovalReason.EXPIRED));
      }
      assert.deepEqual(changes(onC), changes(onA));
    } finally {
      await Promise.all([onA.stop(), onC.stop()]);
    }
  });

  it("redis-server stopped and restarted under the nodes: writes refused, no lease expires, watchers end right", async () => {
    const onA = collectWatch(a.client, { service: "pay" });
    const onC = collectWatch(c.client, { service: "pay" });
    const stops: (() => Promise<void>)[] = [];
    try {
      await Promise.all([onA.waitFor(1), onC.waitFor(1)]);
      for (let i = 0; i < 4; i++) await [a, c][i % 2]!.client.register({ ...instance(`p${i}`), host: "h", port: 1, ttl: { seconds: 1n } });
      for (let i = 0; i < 4; i++) stops.push(keepBeating([a, c][i % 2]!.client, `p${i}`));
      await sleep(300);
      await redis.stop();
      await until("the nodes notice", () => a.server.store.status().stale && c.server.store.status().stale);
      await assert.rejects(a.client.register({ ...instance("new"), host: "h", port: 1 }), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
      assert.equal((await c.client.resolve({ service: "pay" })).instances.length, 4, "reads go on from the last view");
      await sleep(1500); // longer than the TTL
      await redis.restart();
      await until("the nodes recover", () => !a.server.store.status().stale && !c.server.store.status().stale, 10_000);
      await sleep(1500);
      await c.client.register({ ...instance("after"), host: "h", port: 1 });
      await until("both watchers see the write made after the outage", () => [onA, onC].every((w) => changes(w).some((s) => s.includes(":after:"))));
    } finally {
      await Promise.all(stops.map((s) => s()));
      await Promise.all([onA.stop(), onC.stop()]);
    }
    for (const w of [onA, onC]) {
      assert.ok(!w.events.some((e) => e.type === WatchEventType.REMOVED), "no lease may expire because of the outage");
      assert.equal(changes(w).length, 5);
    }
    assert.deepEqual(changes(onC), changes(onA));
    assert.equal((await a.client.resolve({ service: "pay" })).instances.length, 5);
  });
});

