import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { InstanceStatus, Strategy, WatchEventType } from "../../gen/roster/v1/registry_pb.js";
import { collectWatch } from "../helpers/watch.js";
import { type TestServer } from "../helpers/server.js";
import type { Target } from "./target.js";

const H = InstanceStatus.HEALTHY;

/** The SEMANTICS 5 and 6.1 claims, checked on one target (a front end and a store). */
export function resolveSuite(target: Target): void {
  describe("Resolve (SEMANTICS 5)", () => {
    let t: TestServer;
    before(async () => {
      t = await target.start();
      const add = (id: string, extra: object) => t.client.register({ service: "shop", id, host: "10.0.0.1", port: 80, ...extra });
      await add("a", { zone: "eu-1", weight: 1, tags: ["v2"], metadata: { version: "2" } });
      await add("b", { zone: "eu-1", weight: 3, tags: ["v2"], metadata: { version: "2" } });
      await add("c", { zone: "us-1", weight: 6, tags: ["v1"], metadata: { version: "1" } });
      await add("d", { zone: "us-1", status: InstanceStatus.UNHEALTHY });
      await add("e", { zone: "eu-1", status: InstanceStatus.STOPPING });
    });
    after(() => t.close());

    const ids = (r: { instances: { id: string }[] }) => r.instances.map((i) => i.id).sort();

    it("returns the healthy matching instances, or every status when asked (5.1)", async () => {
      assert.deepEqual(ids(await t.client.resolve({ service: "shop" })), ["a", "b", "c"]);
      assert.deepEqual(ids(await t.client.resolve({ service: "shop", allStatuses: true })), ["a", "b", "c", "d", "e"]);
      assert.deepEqual(ids(await t.client.resolve({ service: "shop", filter: { tags: ["v2"] } })), ["a", "b"]);
      assert.deepEqual(ids(await t.client.resolve({ service: "shop", filter: { metadata: { version: "1" } } })), ["c"]);
      assert.deepEqual(ids(await t.client.resolve({ service: "shop", filter: { zone: "us-1" }, allStatuses: true })), ["c", "d"]);
      const r = await t.client.resolve({ service: "shop" });
      assert.ok(r.revision >= 5n);
    });

    it("round robin cycles through healthy instances, shared across callers (5.2)", async () => {
      // Two callers on their own connections take turns: the rotation is the node's, not the caller's.
      const callers = [t.client, target.client(t.url)];
      const picks: string[] = [];
      for (let i = 0; i < 6; i++) picks.push((await callers[i % 2]!.resolve({ service: "shop", strategy: Strategy.ROUND_ROBIN })).instances[0]!.id);
      assert.deepEqual([...picks.slice(0, 3)].sort(), ["a", "b", "c"]);
      assert.deepEqual(picks.slice(3), picks.slice(0, 3));
    });

    it("random picks only healthy instances and reaches all of them (5.2)", async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) seen.add((await t.client.resolve({ service: "shop", strategy: Strategy.RANDOM })).instances[0]!.id);
      assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
    });

    it("weighted picks follow the weights (5.2)", async () => {
      const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
      const n = 600;
      for (let i = 0; i < n; i++) counts[(await t.client.resolve({ service: "shop", strategy: Strategy.WEIGHTED })).instances[0]!.id]!++;
      // Weights 1:3:6 → expected 60, 180, 360; allow wide binomial slack.
      assert.ok(counts.a! > 25 && counts.a! < 110, JSON.stringify(counts));
      assert.ok(counts.b! > 120 && counts.b! < 240, JSON.stringify(counts));
      assert.ok(counts.c! > 290 && counts.c! < 430, JSON.stringify(counts));
    });

    it("least loaded picks the instance reporting the least load on its heartbeats (5.2)", async () => {
      const beat = (id: string, load: number) =>
        t.client.heartbeat((async function* () {
          yield { service: "shop", id, load };
        })());
      await beat("a", 9);
      await beat("b", 2);
      await beat("c", 5);
      for (let i = 0; i < 5; i++) assert.equal((await t.client.resolve({ service: "shop", strategy: Strategy.LEAST_LOADED })).instances[0]!.id, "b");
      await beat("b", 50);
      assert.equal((await t.client.resolve({ service: "shop", strategy: Strategy.LEAST_LOADED })).instances[0]!.id, "c");
    });

    it("zone affinity prefers the caller's zone and falls back when none is healthy there (5.2)", async () => {
      for (let i = 0; i < 10; i++) {
        const id = (await t.client.resolve({ service: "shop", strategy: Strategy.RANDOM, preferZone: "us-1" })).instances[0]!.id;
        assert.equal(id, "c");
      }
      const fallback = (await t.client.resolve({ service: "shop", strategy: Strategy.RANDOM, preferZone: "ap-1" })).instances[0]!.id;
      assert.ok(["a", "b", "c"].includes(fallback));
    });

    it("a pick fails with NOT_FOUND when nothing matches and UNAVAILABLE when nothing is healthy; a list is empty (5.3)", async () => {
      await assert.rejects(t.client.resolve({ service: "nothing", strategy: Strategy.ROUND_ROBIN }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
      await t.client.register({ service: "sick", id: "s", host: "h", port: 1, status: InstanceStatus.UNHEALTHY });
      await assert.rejects(t.client.resolve({ service: "sick", strategy: Strategy.RANDOM }), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
      assert.deepEqual((await t.client.resolve({ service: "nothing" })).instances, []);
      assert.deepEqual((await t.client.resolve({ service: "sick" })).instances, []);
    });

    it("lists services with counts by status", async () => {
      const res = await t.client.listServices({});
      const shop = res.services.find((s) => s.name === "shop")!;
      assert.deepEqual([shop.instances, shop.healthy, shop.unhealthy, shop.stopping], [5, 3, 1, 1]);
    });
  });

  describe("Health status (SEMANTICS 6.1)", () => {
    let t: TestServer;
    before(async () => (t = await target.start()));
    after(() => t.close());

    it("sets status on register and changes it on a heartbeat, e.g. STOPPING to drain", async () => {
      const r = await t.client.register({ service: "drain", id: "a", host: "h", port: 1, status: InstanceStatus.STARTING, ttl: { seconds: 10n } });
      assert.equal(r.instance!.status, InstanceStatus.STARTING);
      const unspecified = await t.client.register({ service: "drain", id: "b", host: "h", port: 1 });
      assert.equal(unspecified.instance!.status, H, "UNSPECIFIED on register means HEALTHY");
      const w = collectWatch(t.client, { service: "drain" });
      await w.waitFor(3);
      for (const status of [InstanceStatus.HEALTHY, InstanceStatus.STOPPING]) {
        await t.client.heartbeat((async function* () {
          yield { service: "drain", id: "a", status };
        })());
      }
      // A heartbeat with UNSPECIFIED leaves the status as it is.
      await t.client.heartbeat((async function* () {
        yield { service: "drain", id: "a" };
      })());
      await w.waitFor(5);
      await w.stop();
      assert.deepEqual(w.events.slice(3).map((e) => [e.type, e.instance!.status]), [
        [WatchEventType.UPDATED, InstanceStatus.HEALTHY],
        [WatchEventType.UPDATED, InstanceStatus.STOPPING],
      ]);
      assert.deepEqual(ids(await t.client.resolve({ service: "drain" })), ["b"], "a STOPPING instance is not resolved");
    });
  });
}

function ids(r: { instances: { id: string }[] }) {
  return r.instances.map((i) => i.id).sort();
}
