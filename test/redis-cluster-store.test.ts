import assert from "node:assert/strict";
import { Cluster } from "ioredis";
import { WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { RedisStore } from "../src/store/redis-store.js";
import { redisKeys } from "../src/store/redis/scripts.js";
import { describeChecksContract, describeStoreContract } from "../src/store/contract/index.js";
import { startRedisCluster, type TestCluster } from "./helpers/redis-cluster.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { collectWatch } from "./helpers/watch.js";

let cluster: TestCluster;
let prefixes = 0;

describe("RedisStore on a Redis Cluster (redis+cluster://, three primaries with a replica each)", function () {
  this.timeout(60_000);
  // Inside a describe, not at file level: file-level hooks are root hooks that would run for every test file.
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.close();
  });

  // The whole Store contract, on Cluster connections: every script runs on the primary of the registry's slot.
  describeStoreContract("redis cluster", (options) => RedisStore.connect(cluster.url, { ...options, prefix: `cluster-contract-${++prefixes}` }));
  describeChecksContract("redis cluster", (options) => RedisStore.connect(cluster.url, { ...options, prefix: `cluster-contract-${++prefixes}` }));

  describe("through real Roster servers", () => {
    const servers: TestServer[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    });
    const node = async (prefix: string) => {
      const s = await startTestServer({ store: cluster.url, redisPrefix: prefix, limits: { minTtlMs: 200 }, timing: { sweepIntervalMs: 50 } });
      servers.push(s);
      return s;
    };

    it("4.1, 4.5 register on one node, watch and resolve on another: the watcher sees every change once, in revision order, and both nodes resolve the same", async () => {
      const prefix = `cluster-servers-${++prefixes}`;
      const [a, b] = [await node(prefix), await node(prefix)];
      const watch = collectWatch(b.client, { service: "pay" });
      try {
        await watch.waitFor(1);
        for (let i = 0; i < 10; i++) await a.client.register({ service: "pay", id: `p${i}`, host: "10.0.0.1", port: 1 + i, ttl: { seconds: 30n } });
        await b.client.deregister({ service: "pay", id: "p0" });
        const events = await watch.waitFor(12);
        assert.deepEqual(
          events.map((e) => e.type),
          [WatchEventType.SNAPSHOT_COMPLETE, ...Array<WatchEventType>(10).fill(WatchEventType.ADDED), WatchEventType.REMOVED],
        );
        const revisions = events.slice(1).map((e) => e.revision);
        for (let i = 1; i < revisions.length; i++) assert.equal(revisions[i], revisions[i - 1]! + 1n, "consecutive revisions");
        await until("both nodes to resolve nine instances", async () => (await a.client.resolve({ service: "pay" })).instances.length === 9 && (await b.client.resolve({ service: "pay" })).instances.length === 9);
        const ids = async (s: TestServer) => (await s.client.resolve({ service: "pay" })).instances.map((i) => `${i.id}@${i.modRevision}`).sort();
        assert.deepEqual(await ids(a), await ids(b));
      } finally {
        await watch.stop();
      }
    });

    it("7.2 every key of a registry is in one slot, and that slot's primary holds the registry", async () => {
      const prefix = `cluster-slot-${++prefixes}`;
      const a = await node(prefix);
      await a.client.register({ service: "pay", id: "p1", host: "10.0.0.1", port: 1, ttl: { seconds: 30n } });
      const keys = Object.values(redisKeys(prefix));
      const probe = new Cluster([{ host: "127.0.0.1", port: cluster.nodes[0]!.port }], { lazyConnect: true });
      await probe.connect();
      try {
        const slots = new Set(await Promise.all(keys.map(async (k) => Number(await probe.cluster("KEYSLOT", k)))));
        assert.equal(slots.size, 1, "all keys share the hash tag");
      } finally {
        probe.disconnect();
      }
      const primary = await cluster.primaryOf(redisKeys(prefix).revision);
      assert.ok(Number(await cluster.client(primary).exists(redisKeys(prefix).revision)) === 1, "the slot's primary holds the registry");
    });
  });
});
