import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../gen/grpc/health/v1/health_pb.js";
import { sleep, startTestServer, until, type TestServer } from "./helpers/server.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";

/** A health Watch that records every status and how it ended. */
function watchHealth(url: string, service: string) {
  const client = createClient(Health, createGrpcTransport({ baseUrl: url }));
  const stop = new AbortController();
  const seen: Serving[] = [];
  const state: { ended: boolean; error: ConnectError | undefined } = { ended: false, error: undefined };
  const done = (async () => {
    try {
      for await (const r of client.watch({ service }, { signal: stop.signal })) seen.push(r.status);
    } catch (e) {
      state.error = ConnectError.from(e);
    } finally {
      state.ended = true;
    }
  })();
  return { seen, state, stop: async () => (stop.abort(), await done), done };
}

describe("grpc.health.v1 per its spec", function () {
  this.timeout(20000);

  describe("a running node", () => {
    let t: TestServer;
    before(async () => (t = await startTestServer()));
    after(() => t.close());

    it("Check: SERVING for the node and the services it serves, NOT_FOUND for another", async () => {
      const health = createClient(Health, createGrpcTransport({ baseUrl: t.url }));
      for (const service of ["", "roster.v1.RegistryService", "grpc.health.v1.Health"]) assert.equal((await health.check({ service })).status, Serving.SERVING, service);
      await assert.rejects(health.check({ service: "nope.v1.Nope" }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
    });

    it("Watch on an unknown service sends SERVICE_UNKNOWN and keeps the stream open", async () => {
      const w = watchHealth(t.url, "nope.v1.Nope");
      await until("first status", () => w.seen.length > 0);
      await sleep(300);
      assert.deepEqual(w.seen, [Serving.SERVICE_UNKNOWN]);
      assert.equal(w.state.ended, false, "still open");
      await w.stop();
    });
  });

  it("at shutdown every Watch gets NOT_SERVING before its stream ends with UNAVAILABLE", async () => {
    const t = await startTestServer();
    const watches = ["", "roster.v1.RegistryService", "nope.v1.Nope"].map((s) => watchHealth(t.url, s));
    await until("first statuses", () => watches.every((w) => w.seen.length > 0));
    await t.close();
    await Promise.all(watches.map((w) => w.done));
    for (const w of watches.slice(0, 2)) {
      assert.deepEqual(w.seen, [Serving.SERVING, Serving.NOT_SERVING]);
      assert.equal(w.state.error?.code, Code.Unavailable, String(w.state.error));
    }
    // An unknown service stays unknown: a node going away does not start serving it.
    assert.deepEqual(watches[2]!.seen, [Serving.SERVICE_UNKNOWN]);
  });

  describe("a Redis node whose Redis stalls", () => {
    let redis: TestRedis;
    let t: TestServer;
    before(async () => {
      redis = await startRedis();
      t = await startTestServer({ store: redis.url, redisPrefix: `health${process.pid}` });
    });
    after(async () => {
      redis.resume();
      await t.close();
      await redis.close();
    });

    it("reports RegistryService NOT_SERVING while writes are refused, the node itself SERVING, and SERVING again once Redis answers", async () => {
      const registry = watchHealth(t.url, "roster.v1.RegistryService");
      const node = watchHealth(t.url, "");
      await until("first statuses", () => registry.seen.length > 0 && node.seen.length > 0);
      redis.pause();
      await until("NOT_SERVING", () => registry.seen.at(-1) === Serving.NOT_SERVING, 8000);
      const health = createClient(Health, createGrpcTransport({ baseUrl: t.url }));
      assert.equal((await health.check({ service: "roster.v1.RegistryService" })).status, Serving.NOT_SERVING);
      assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
      redis.resume();
      await until("SERVING again", () => registry.seen.at(-1) === Serving.SERVING, 8000);
      assert.deepEqual(registry.seen, [Serving.SERVING, Serving.NOT_SERVING, Serving.SERVING]);
      assert.deepEqual(node.seen, [Serving.SERVING]);
      await registry.stop();
      await node.stop();
    });
  });
});
