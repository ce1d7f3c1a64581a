import assert from "node:assert/strict";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { type DiscoveryResponse } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../src/config.js";
import type { ChangeListener, StoreStatus } from "../src/store/store.js";
import { spec } from "../src/store/contract/instance-spec.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { RedisStore } from "../src/store/redis-store.js";
import { TypeUrl } from "../src/server/xds/resources.js";
import { XdsHub, type PublishedService } from "../src/server/xds/xds-hub.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { sleep, startTestServer, until } from "./helpers/server.js";
import { assignments, endpointAddresses, rawAdsClient, type RawAdsClient } from "./helpers/xds-raw-client.js";
import { Registrar } from "../src/sdk/registrar.js";

const LDS = TypeUrl.listener;
const EDS = TypeUrl.endpoints;

/** A real memory store whose status can also say stale or protecting, as a Redis store's would. */
class FlaggedStore extends MemoryStore {
  flags = { stale: false, expiryProtection: false };
  /** While true, subscribers hear nothing: stands for the changes a reload never delivers. */
  muted = false;
  override subscribe(listener: ChangeListener): () => void {
    return super.subscribe((c) => {
      if (!this.muted) listener(c);
    });
  }
  override status(): StoreStatus {
    const s = super.status();
    return { ...s, stale: s.stale || this.flags.stale, expiryProtection: s.expiryProtection || this.flags.expiryProtection };
  }
}

const svc = (id: string, port: number) => spec({ service: "svc", id, host: "127.0.0.1", port });

describe("xDS push-empty hold (SEMANTICS 8.4): the hub", function () {
  const config = resolveConfig({});
  let store: FlaggedStore;
  let hub: XdsHub;
  let seen: PublishedService[];
  const listener = { servicesChanged: (keys: ReadonlySet<string>) => void keys.forEach((k) => seen.push(hub.published(k)!)) };
  const serving = () => hub.published("default/svc")?.serving?.map((i) => i.id);

  beforeEach(async () => {
    store = new FlaggedStore({ limits: config.limits, timing: config.timing });
    hub = new XdsHub(store, { xdsPushDelayMs: 5, xdsStartupHoldMs: 0 });
    seen = [];
    await store.register(svc("a", 9001));
    await hub.acquire({ namespace: "default", service: "svc" }, listener);
  });
  afterEach(async () => {
    hub.close();
    await store.close();
  });

  for (const flag of ["stale", "expiryProtection"] as const) {
    it(`8.4 while the store is ${flag === "stale" ? "stale" : "under expiry protection"}, a deregistration that empties a service is withheld; the real state is published when that ends`, async () => {
      store.flags[flag] = true;
      await store.deregister({ namespace: "default", service: "svc", id: "a" });
      await sleep(100);
      assert.deepEqual(seen, [], "nothing published");
      assert.deepEqual(serving(), ["a"], "the last non-empty set stays");
      store.flags[flag] = false;
      // The hold is re-checked once a second.
      await until("the real state is published", () => seen.length > 0, 3000);
      assert.equal(hub.published("default/svc")?.exists, false, "once the hold ends the service is gone");
    });
  }

  it("8.4 while the store is stale, a set that shrinks but stays non-empty is still published", async () => {
    await store.register(svc("b", 9002));
    await until("b published", () => serving()?.length === 2);
    store.flags.stale = true;
    await store.deregister({ namespace: "default", service: "svc", id: "a" });
    await until("the shrunken set is published", () => serving()?.join() === "b");
  });

  it("8.4 after a store resync the hub re-reads what it follows, withholds an empty set for xds-startup-hold-ms, then publishes the real state", async () => {
    const h = new XdsHub(store, { xdsPushDelayMs: 5, xdsStartupHoldMs: 300 });
    const got: PublishedService[] = [];
    try {
      await h.acquire({ namespace: "default", service: "svc" }, { servicesChanged: (keys) => keys.forEach((k) => got.push(h.published(k)!)) });
      await sleep(350);
      assert.equal(h.holding(), false, "the start-up hold is over");
      // A reload delivers no change for what the store lost: the removal happens unheard.
      store.muted = true;
      await store.deregister({ namespace: "default", service: "svc", id: "a" });
      store.muted = false;
      const at = Date.now();
      h.resync();
      assert.equal(h.holding(), true, "a resync starts the hold again");
      await sleep(150);
      assert.equal(got.length, 0, "the empty set the store now shows is withheld");
      assert.deepEqual(h.published("default/svc")?.serving?.map((i) => i.id), ["a"]);
      await until("the real state is published after the hold", () => got.length > 0, 3000);
      assert.ok(Date.now() - at >= 300, "not before the hold ends");
      assert.equal(got.at(-1)?.exists, false);
    } finally {
      h.close();
    }
  });

  it("8.4 after a store resync a fleet that re-registers is published at once, during the hold", async () => {
    const h = new XdsHub(store, { xdsPushDelayMs: 5, xdsStartupHoldMs: 0 });
    try {
      await h.acquire({ namespace: "default", service: "svc" }, { servicesChanged: () => {} });
      store.muted = true;
      await store.deregister({ namespace: "default", service: "svc", id: "a" });
      await store.register(svc("b", 9002));
      store.muted = false;
      h.resync();
      await until("the re-read set is published", () => h.published("default/svc")?.serving?.map((i) => i.id).join() === "b", 1000);
    } finally {
      h.close();
    }
  });
});

/** Listener names of an LDS response. */
const listenerNames = (r: DiscoveryResponse) => r.resources.map((a) => anyUnpack(a, ListenerSchema)!.name).sort();

/**
 * Subscribes a raw ADS client to the Listener and load assignment of
 * `services`, ACKing every response, and returns what would betray an empty
 * push: a Listener response lacking one of them, or a load assignment with
 * no endpoint.
 */
async function follow(url: string, services: string[]): Promise<{ c: RawAdsClient; lost: () => string[]; acked: () => Promise<void> }> {
  const c = rawAdsClient(url);
  const clusters = services.map((s) => `default/${s}`);
  c.send({ typeUrl: LDS, resourceNames: services });
  c.send({ typeUrl: EDS, resourceNames: clusters });
  let read = 0;
  const acked = async () => {
    while (read < c.received.length || !(await c.quiet(50))) {
      const r = await c.next();
      read++;
      c.send({ typeUrl: r.typeUrl, resourceNames: r.typeUrl === LDS ? services : clusters, versionInfo: r.versionInfo, responseNonce: r.nonce });
    }
  };
  const lost = () =>
    c.received.flatMap((r) =>
      r.typeUrl === LDS
        ? services.filter((s) => !listenerNames(r).includes(s)).map((s) => `Listener ${s} dropped (version ${r.versionInfo})`)
        : assignments(r).filter((a) => endpointAddresses(a).length === 0).map((a) => `empty load assignment for ${a.clusterName} (version ${r.versionInfo})`),
    );
  await acked();
  return { c, lost, acked };
}

describe("xDS push-empty hold (SEMANTICS 8.4): a real node", function () {
  this.timeout(30000);
  const opened: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close();
  });

  it("8.4 expiry protection holds: a deregistration that empties a service is not pushed until protection ends", async () => {
    const t = await startTestServer({ timing: { xdsPushDelayMs: 10, xdsStartupHoldMs: 0, expiryProtectionMaxMs: 2500, sweepIntervalMs: 100 } });
    opened.push(t);
    for (let i = 0; i < 12; i++) await t.client.register({ service: "fleet", id: `f${i}`, host: "127.0.0.1", port: 10000 + i, status: InstanceStatus.HEALTHY, ttl: { seconds: 1n, nanos: 0 } });
    await t.client.register({ service: "echo", id: "a", host: "127.0.0.1", port: 9001, status: InstanceStatus.HEALTHY });
    const f = await follow(t.url, ["echo"]);
    opened.push(f.c);
    // The fleet never beats: more than half of all leases lapse at once, which the node takes for its own fault (2.6).
    await until("expiry protection", () => t.server.store.status().expiryProtection, 5000);
    await t.client.deregister({ service: "echo", id: "a" });
    assert.ok(await f.c.quiet(700), "nothing is pushed while protection holds");
    assert.deepEqual(f.lost(), []);
    await until("protection ends at expiry-protection-max-ms", () => !t.server.store.status().expiryProtection, 5000);
    await until("the deregistration is published once protection ends", async () => (await f.acked(), f.lost().length > 0), 3000);
    assert.deepEqual(f.lost(), ["Listener echo dropped (version 2)"]);
  });

  describe("on the Redis store", function () {
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      await redis.close();
    });
    const node = async (holdMs: number) => {
      const t = await startTestServer({ store: redis.url, redisPrefix: `hold-${Date.now()}`, timing: { xdsPushDelayMs: 10, xdsStartupHoldMs: holdMs, redisHealthTimeoutMs: 300 } });
      opened.push(t);
      return t;
    };

    it("8.4 Redis paused past the TTL: the node goes stale, a deregistration is refused, nothing empty is pushed then or when Redis returns", async () => {
      const t = await node(0);
      const registrar = new Registrar({ registry: t.url, backoff: { initialMs: 50, maxMs: 300 } });
      opened.push(registrar);
      await registrar.register({ service: "echo", id: "a", host: "127.0.0.1", port: 9001, ttlMs: 1500 });
      const f = await follow(t.url, ["echo"]);
      opened.push(f.c);
      redis.pause();
      try {
        await until("the node is stale", () => t.server.store.status().stale, 3000);
        await assert.rejects(t.client.deregister({ service: "echo", id: "a" }), /unavailable/i);
        await sleep(2000);
        await f.acked();
        assert.deepEqual(f.lost(), [], "nothing empty while stale, past the TTL");
      } finally {
        redis.resume();
      }
      await until("the node is live again", () => !t.server.store.status().stale, 5000);
      await sleep(2000);
      await f.acked();
      assert.deepEqual(f.lost(), [], "nothing empty after Redis returns: unrenewed leases got their grace and the beats resumed");
      assert.deepEqual((await t.client.resolve({ service: "echo" })).instances.map((i) => i.id), ["a"]);
    });

    it("8.4 Redis restarted empty (a resync): no empty set during the hold; the fleet that re-registers stays, a service that does not come back goes after it", async () => {
      const holdMs = 2500;
      const t = await node(holdMs);
      const startedAt = Date.now();
      const registrar = new Registrar({ registry: t.url, backoff: { initialMs: 50, maxMs: 300 } });
      opened.push(registrar);
      await registrar.register({ service: "echo", id: "a", host: "127.0.0.1", port: 9001, ttlMs: 1500 });
      // Registered without a lease by something that does not re-register: after the loss it is gone for good.
      await t.client.register({ service: "gone", id: "g", host: "127.0.0.1", port: 9002, status: InstanceStatus.HEALTHY });
      await sleep(holdMs + 100 - (Date.now() - startedAt));
      const f = await follow(t.url, ["echo", "gone"]);
      opened.push(f.c);
      await redis.stop({ keepData: false });
      await redis.restart();
      const store = t.server.store as RedisStore;
      await until("the node reloaded what Redis holds now", () => store.state === "live" && store.status().instances <= 1, 10000);
      const reloadedAt = Date.now();
      await until("the fleet re-registered", async () => (await t.client.resolve({ service: "echo" })).instances.length === 1, 3000);
      await sleep(Math.max(0, holdMs - 300 - (Date.now() - reloadedAt)));
      await f.acked();
      assert.deepEqual(f.lost(), [], "nothing dropped or emptied during the hold");
      await until("after the hold the lost service is published as gone", async () => (await f.acked(), f.lost().length > 0), holdMs + 3000);
      assert.ok(Date.now() - reloadedAt >= holdMs - 300, `not before the hold ends (${Date.now() - reloadedAt} ms after the reload)`);
      assert.deepEqual(f.lost(), [f.lost()[0]!]);
      assert.match(f.lost()[0]!, /^Listener gone dropped/);
    });
  });
});
