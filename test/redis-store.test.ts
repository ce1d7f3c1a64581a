import assert from "node:assert/strict";
import { resolveConfig, type Limits, type Timing } from "../src/config.js";
import { RosterError } from "../src/errors.js";
import { CheckStatus, InstanceStatus, type Change } from "../src/core/types.js";
import { Redis } from "ioredis";
import { RedisStore } from "../src/store/redis-store.js";
import { sleep, until } from "./helpers/server.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { describeChecksContract, describeStoreContract, describeStoreFaultContract, httpCheck, spec } from "../src/store/contract/index.js";

let redis: TestRedis;
let prefixes = 0;

describe("RedisStore", () => {
  // Inside a describe, not at file level: file-level hooks are root hooks that would run for every test file.
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.close();
  });

  // A fresh prefix per store gives each contract test an empty registry without flushing the server.
  describeStoreContract("redis", (options) => RedisStore.connect(redis.url, { ...options, prefix: `contract-${++prefixes}` }));
  describeStoreFaultContract("redis", (options) => RedisStore.connect(redis.url, { ...options, prefix: `contract-${++prefixes}` }));
  describeChecksContract("redis", (options) => RedisStore.connect(redis.url, { ...options, prefix: `contract-${++prefixes}` }));
  describeNodes();
});

/** One registry node on the test Redis, recording what it delivers and says. */
interface Node {
  readonly store: RedisStore;
  readonly seen: Change[];
  readonly stale: [boolean, string][];
}

function isUnavailable(e: unknown): boolean {
  return e instanceof RosterError && e.kind === "unavailable";
}

/**
 * Checks that a node delivered consecutive revisions, none twice, but for
 * `jumps` jumps of the counter to at least `jumpFloor` (a Redis with a new
 * replication id, see `rebase` in src/store/redis/scripts.ts).
 */
function assertGapless(seen: readonly Change[], jumps = 0, jumpFloor = 0n): void {
  let jumped = 0;
  for (let i = 1; i < seen.length; i++) {
    const [prev, next] = [seen[i - 1]!.revision, seen[i]!.revision];
    if (next === prev + 1n) continue;
    jumped++;
    assert.ok(next > prev && next >= jumpFloor && jumped <= jumps, `revision ${next} after ${prev}`);
  }
}

/** The tests of several stores (nodes) sharing one Redis; run inside the suite that owns the server. */
function describeNodes(): void {
  describe("several nodes on one Redis", function () {
    this.timeout(30_000);
    let nodes: Node[] = [];
    let prefix = "";

    async function node(limits: Partial<Limits> = {}, timing: Partial<Timing> = {}): Promise<Node> {
      const config = resolveConfig({ limits: { minTtlMs: 200, ...limits }, timing: { sweepIntervalMs: 50, ...timing } });
      const stale: [boolean, string][] = [];
      const store = await RedisStore.connect(redis.url, {
        limits: config.limits,
        timing: config.timing,
        prefix,
        onStale: (s, detail) => stale.push([s, detail]),
      });
      const seen: Change[] = [];
      store.subscribe((c) => seen.push(c));
      const n = { store, seen, stale };
      nodes.push(n);
      return n;
    }

    beforeEach(() => {
      prefix = `nodes-${++prefixes}`;
    });
    afterEach(async () => {
      await Promise.all(nodes.map((n) => n.store.close()));
      nodes = [];
    });

    it("a change made through any node reaches every node, in the same order (4.5)", async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) writes.push([a, b, c][i % 3]!.store.register(spec({ id: `i${i}`, ttlMs: 5000 })));
      await Promise.all(writes);
      await Promise.all([
        a.store.heartbeat(spec({ id: "i1" }), { status: InstanceStatus.STOPPING }),
        b.store.deregister(spec({ id: "i2" })),
        c.store.register(spec({ id: "i3", port: 9 })),
      ]);
      const total = 33;
      await until("every node has every change", () => [a, b, c].every((n) => n.seen.length === total));
      for (const n of [a, b, c]) {
        assertGapless(n.seen);
        assert.equal(n.store.status().revision, a.seen.at(-1)!.revision);
        assert.equal((await n.store.list("default", "echo")).instances.length, 29);
      }
      const order = (n: Node) => n.seen.map((ch) => `${ch.revision}:${ch.kind}:${ch.kind === "put" ? ch.instance.id : ch.prev.id}`);
      assert.deepEqual(order(b), order(a));
      assert.deepEqual(order(c), order(a));
    });

    it("a node that starts later loads the state and reaches back into the stream (4.2)", async () => {
      const a = await node();
      for (let i = 0; i < 5; i++) await a.store.register(spec({ id: `i${i}` }));
      const b = await node();
      assert.equal(b.store.status().revision, a.store.status().revision);
      assert.equal((await b.store.list("default")).instances.length, 5);
      const back = await b.store.changesSince(a.seen[1]!.revision);
      assert.ok(back !== "compacted");
      assert.deepEqual(back.map((c) => c.revision), a.seen.slice(2).map((c) => c.revision));
    });

    it("limits count every node's instances", async () => {
      const [a, b] = [await node({ maxInstancesPerService: 2 }), await node({ maxInstancesPerService: 2 })];
      await a.store.register(spec({ id: "x" }));
      await b.store.register(spec({ id: "y" }));
      await assert.rejects(a.store.register(spec({ id: "z" })), (e) => e instanceof RosterError && e.kind === "resource_exhausted");
    });

    it("several nodes sweeping at once remove each expired lease exactly once (2.1)", async () => {
      const opts: [Partial<Limits>, Partial<Timing>] = [{}, { sweepIntervalMs: 20, expiryProtectionThreshold: 1 }];
      const [a, b, c] = [await node(...opts), await node(...opts), await node(...opts)];
      await Promise.all(Array.from({ length: 60 }, (_, i) => [a, b, c][i % 3]!.store.register(spec({ id: `i${i}`, ttlMs: 300 }))));
      const deletes = (n: Node) => n.seen.filter((ch) => ch.kind === "delete");
      await until("every lease expired on every node", () => [a, b, c].every((n) => deletes(n).length >= 60));
      await sleep(100);
      for (const n of [a, b, c]) {
        const ids = deletes(n).map((ch) => (ch.kind === "delete" ? `${ch.cause}:${ch.prev.id}` : ""));
        assert.equal(ids.length, 60);
        assert.equal(new Set(ids).size, 60);
        assert.ok(ids.every((id) => id.startsWith("expired:")));
        assertGapless(n.seen);
        assert.equal(n.store.status().leases, 0);
      }
    });

    it("a lease registered on one node lives on heartbeats to another, and survives that node closing (2.2)", async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      await a.store.register(spec({ ttlMs: 400 }));
      for (let i = 0; i < 5; i++) {
        await sleep(100);
        await b.store.heartbeat(spec(), { load: i });
      }
      await b.store.close(); // the node carrying the heartbeats goes away
      for (let i = 0; i < 6; i++) {
        await sleep(100);
        await a.store.heartbeat(spec(), {});
      }
      assert.deepEqual(c.seen.map((ch) => ch.kind), ["put"], "no removal and no duplicate on a watching node");
      assert.ok(await c.store.get(spec()));
    });

    it("a starting node gives leases it has not seen renewed one TTL of grace (2.6)", async () => {
      const a = await node({}, { expiryProtectionThreshold: 1 });
      await a.store.register(spec({ ttlMs: 600 }));
      await a.store.close();
      nodes = [];
      await sleep(800); // the lease is overdue, with no node running
      const started = Date.now();
      const b = await node({}, { expiryProtectionThreshold: 1 });
      await until("the lease expires after the grace", () => b.seen.some((ch) => ch.kind === "delete"), 5000);
      const after = Date.now() - started;
      assert.ok(after >= 500, `expired ${after} ms after the node started`);
    });

    it("through a Redis outage: writes are refused, reads go on stale, no lease expires, nothing is lost (7.2)", async () => {
      const [a, b] = [await node(), await node()];
      for (let i = 0; i < 4; i++) await [a, b][i % 2]!.store.register(spec({ id: `i${i}`, ttlMs: 1000 }));
      let beating = true;
      let restartedAt = 0n;
      const beats = (async () => {
        while (beating) {
          await Promise.all([0, 1, 2, 3].map((i) => [a, b][i % 2]!.store.heartbeat(spec({ id: `i${i}` }), {}).catch(() => {})));
          await sleep(150);
        }
      })();
      try {
        await redis.stop();
        await until("both nodes notice", () => a.store.status().stale && b.store.status().stale);
        await assert.rejects(a.store.register(spec({ id: "new" })), isUnavailable);
        await assert.rejects(b.store.heartbeat(spec({ id: "i0" }), {}), isUnavailable);
        const during = await b.store.list("default", "echo");
        assert.equal(during.stale, true);
        assert.equal(during.instances.length, 4);
        assert.equal((await a.store.listServices("default")).stale, true);
        await sleep(1500); // longer than the TTL: every deadline in Redis is now past
        restartedAt = BigInt(Date.now()) * 1000n;
        await redis.restart();
        await until("both nodes recover", () => !a.store.status().stale && !b.store.status().stale, 10_000);
        await sleep(1500); // longer than the TTL again, with heartbeats back
        await a.store.register(spec({ id: "after" }));
        await until("b sees the write made on a", () => b.seen.some((ch) => ch.kind === "put" && ch.instance.id === "after"));
      } finally {
        beating = false;
        await beats;
      }
      for (const n of [a, b]) {
        assert.deepEqual(n.seen.filter((ch) => ch.kind === "delete"), [], "no lease may expire because of the outage");
        // The restarted server has a new replication id: the counter may jump once, above the restart's clock.
        assertGapless(n.seen, 1, restartedAt);
        assert.deepEqual(n.stale.map(([s]) => s), [true, false], JSON.stringify(n.stale));
        assert.equal((await n.store.list("default", "echo")).stale, false);
      }
      assert.deepEqual(a.seen.map((c) => c.revision), b.seen.map((c) => c.revision));
    });

    it("6.2 every node sees the same check membership; a node that closes leaves it, under a new epoch", async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      await Promise.all([a, b, c].map((n) => n.store.members.renew()));
      const views = [a, b, c].map((n) => n.store.members.view());
      assert.deepEqual(views[0]!.nodes, [a, b, c].map((n) => n.store.members.self).sort());
      assert.deepEqual(views[1], views[0]);
      assert.deepEqual(views[2], views[0]);
      const told: bigint[] = [];
      a.store.members.onChange((v) => told.push(v?.epoch ?? -1n));
      await c.store.close();
      nodes = [a, b];
      await a.store.members.renew();
      const after = a.store.members.view()!;
      assert.deepEqual(after.nodes, [a, b].map((n) => n.store.members.self).sort());
      assert.equal(after.epoch, views[0]!.epoch + 1n);
      assert.deepEqual(told, [after.epoch]);
    });

    it("6.2 a node dropped while it did not renew is fenced, then rejoins under a new epoch and commits again", async () => {
      const a = await node();
      // a renews only when told to: its lease lapses while b keeps renewing (a node paused past its lease)
      const config = resolveConfig({ timing: { sweepIntervalMs: 50, checkMemberLeaseMs: 400, checkMemberRenewMs: 100 } });
      const paused = await RedisStore.connect(redis.url, { limits: config.limits, timing: { ...config.timing, checkMemberRenewMs: 3_600_000 }, prefix });
      nodes.push({ store: paused, seen: [], stale: [] });
      const r = await a.store.register(spec({ checks: [httpCheck("http")] }));
      const old = paused.members.view()!;
      const fence = { node: paused.members.self, epoch: old.epoch };
      await sleep(500);
      await a.store.members.renew();
      assert.ok(!a.store.members.view()!.nodes.includes(paused.members.self), "dropped by the other node");
      assert.equal(paused.members.view(), undefined, "out by its own clock too");
      const failing = { name: "http", status: CheckStatus.FAILING, output: "HTTP 503", checkedAt: Date.now(), since: Date.now() };
      assert.equal(await paused.setCheckState(spec(), r.instance.health, failing, fence), "fenced");
      await paused.members.renew();
      const back = paused.members.view()!;
      assert.ok(back.epoch > old.epoch + 1n, `epoch ${back.epoch} after ${old.epoch}: one for the drop, one for the rejoin`);
      assert.equal(await paused.setCheckState(spec(), r.instance.health, failing, fence), "fenced", "the old epoch stays fenced");
      await a.store.members.renew();
      assert.equal(await paused.setCheckState(spec(), r.instance.health, failing, { node: paused.members.self, epoch: back.epoch }), "committed");
      await until("a sees the commit", async () => (await a.store.get(spec()))?.status === InstanceStatus.UNHEALTHY);
    });

    it("a record written before checks existed is read, renewed, changed and removed like any other", async () => {
      const raw = new Redis(redis.url);
      try {
        const json = JSON.stringify(["default", "echo", "old", "10.0.0.1", 8080, [], [], 1, ""]);
        await raw.hset(`{${prefix}}:instances`, "default/echo/old", `5,5,1700000000000,1700000000000,0,${InstanceStatus.HEALTHY},0,${json}`);
        await raw.hset(`{${prefix}}:counts`, "default/echo", 1);
      } finally {
        raw.disconnect();
      }
      const a = await node();
      const old = await a.store.get(spec({ id: "old" }));
      assert.ok(old);
      assert.deepEqual([old.status, old.checks, old.health, old.port], [InstanceStatus.HEALTHY, [], [], 8080]);
      await a.store.heartbeat(spec({ id: "old" }), { status: InstanceStatus.STOPPING });
      await until("the status change", () => a.seen.length === 1);
      const changed = await a.store.register(spec({ id: "old", checks: [httpCheck("http")] }));
      assert.deepEqual(changed.instance.health.map((h) => h.status), [CheckStatus.PENDING]);
      assert.equal(changed.instance.createRevision, 5n);
      await a.store.deregister(spec({ id: "old" }));
      assert.equal((await a.store.listServices("default")).services.length, 0);
    });

    it("a Redis that comes back empty: the node reloads and says so, and revisions never go backwards (7.2)", async () => {
      const a = await node();
      await a.store.register(spec({ id: "x" }));
      const before = a.store.status().revision;
      await redis.stop({ keepData: false });
      await redis.restart();
      await until("the node recovers", () => !a.store.status().stale, 10_000);
      assert.match(a.stale.at(-1)![1], /without the state this node applied/);
      assert.equal(a.store.status().instances, 0);
      const r = await a.store.register(spec({ id: "y" }));
      assert.ok(r.revision > before, `revision ${r.revision} after ${before}`);
    });
  });
}
