import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { xdsBootstrap } from "../src/server/xds/bootstrap.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { dropSocketsOf, Echo, say, startEcho, type EchoClient, type EchoServer } from "./helpers/echo-server.js";
import { startLoad } from "./helpers/xds-load.js";

grpcXds.register();

describe("xDS end to end on the Redis store (two nodes)", function () {
  this.timeout(60000);
  let redis: TestRedis;
  let n1: TestServer;
  let n2: TestServer;
  const echoes: EchoServer[] = [];
  before(async () => {
    redis = await startRedis();
    const prefix = `xds-${Date.now()}`;
    n1 = await startTestServer({ store: redis.url, redisPrefix: prefix, timing: { xdsPushDelayMs: 20 } });
    n2 = await startTestServer({ store: redis.url, redisPrefix: prefix, timing: { xdsPushDelayMs: 20 } });
  });
  after(async () => {
    for (const e of echoes) e.close();
    await n1.close();
    await n2.close();
    dropSocketsOf(n1.port);
    dropSocketsOf(n2.port);
    await redis.close();
  });
  const register = async (via: TestServer, name: string) => {
    const e = await startEcho(name);
    echoes.push(e);
    await via.client.register({ service: "echo", id: name, host: "127.0.0.1", port: e.port, status: InstanceStatus.HEALTHY });
    return e;
  };

  it("4.5 a client of one node balances over instances registered through either node, and keeps calling when that node shuts down", async () => {
    const a = await register(n1, "a");
    const b = await register(n2, "b");
    const bootstrap = xdsBootstrap({ servers: [`127.0.0.1:${n1.port}`, `127.0.0.1:${n2.port}`], zone: "", namespace: "default", nodeId: "redis-e2e" });
    const c = new Echo("xds:///echo", grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) }) as unknown as EchoClient;
    try {
      await until("calls reach both", async () => (await say(c)).instance !== undefined && a.hits.length > 0 && b.hits.length > 0, 10000);
      const added = await register(n2, "c");
      await until("an instance registered through the other node gets calls", async () => (await say(c)).instance !== undefined && added.hits.length > 0, 2000);
      const load = startLoad(c);
      await n1.close();
      await until("calls go on after the node shut down", () => load.samples.length > 50, 5000);
      // grpc-js-xds 1.14 does not move a stream with cached resources to the next xds_servers entry (gRFC A71 falls back only for resources it
      // never got): later changes wait for n1. The README says to give server_uri one name for every node.
      await load.stop();
      assert.equal(load.samples.filter((s) => s.error !== undefined).length, 0, "no call failed");
      assert.deepEqual(new Set(load.samples.map((s) => s.instance)), new Set(["a", "b", "c"]), "the client kept all three endpoints");
    } finally {
      c.close();
    }
  });
});
