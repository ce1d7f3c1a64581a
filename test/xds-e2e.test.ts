import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { Registrar } from "../src/sdk/index.js";
import { xdsBootstrap } from "../src/server/xds/bootstrap.js";
import { sleep, startTestServer, until, type TestServer } from "./helpers/server.js";
import { dropSocketsOf, Echo, startEcho, say, type EchoClient, type EchoServer } from "./helpers/echo-server.js";
import { startLoad } from "./helpers/xds-load.js";

// The bound stated in the README: a client stops calling an instance within this long of the change reaching the registry.
const PROPAGATION_BOUND_MS = 1000;

grpcXds.register();

// Registry ports whose lingering grpc-js-xds connections are dropped once every test here has run (see dropSocketsOf).
const rosterPorts = new Set<number>();
after(() => {
  for (const p of rosterPorts) dropSocketsOf(p);
});

/** A grpc-js channel dialing `xds:///service` through Roster nodes, with its own bootstrap. */
function xdsClient(target: string, servers: string[], zone = ""): EchoClient {
  const bootstrap = xdsBootstrap({ servers, zone, namespace: "default", nodeId: `test-${zone}` });
  return new Echo(target, grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) }) as unknown as EchoClient;
}

const hostPort = (t: TestServer) => `127.0.0.1:${t.port}`;

describe("xDS end to end with an unmodified @grpc/grpc-js-xds client (memory store)", function () {
  this.timeout(60000);
  let t: TestServer;
  const echoes: EchoServer[] = [];
  const clients: grpc.Client[] = [];
  const echo = async (name: string) => {
    const e = await startEcho(name);
    echoes.push(e);
    return e;
  };
  const client = (service: string, zone = "") => {
    const c = xdsClient(`xds:///${service}`, [hostPort(t)], zone);
    clients.push(c);
    return c;
  };
  const register = (service: string, e: EchoServer, opts: { zone?: string; status?: InstanceStatus; ttlMs?: number } = {}) =>
    t.client.register({ service, id: e.name, host: "127.0.0.1", port: e.port, status: opts.status ?? InstanceStatus.HEALTHY, zone: opts.zone ?? "", ttl: opts.ttlMs === undefined ? undefined : { seconds: BigInt(Math.floor(opts.ttlMs / 1000)), nanos: (opts.ttlMs % 1000) * 1e6 } });

  before(async () => {
    t = await startTestServer({ timing: { xdsPushDelayMs: 20, xdsStartupHoldMs: 0 } });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    for (const e of echoes.splice(0)) e.close();
  });
  after(async () => {
    await t.close();
    rosterPorts.add(t.port);
  });

  it("spreads calls to xds:///echo over both registered instances", async () => {
    const [a, b] = [await echo("a"), await echo("b")];
    await register("echo", a);
    await register("echo", b);
    const c = client("echo");
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await say(c);
      assert.equal(r.error, undefined, r.error?.details);
      seen.add(r.instance!);
    }
    assert.deepEqual([...seen].sort(), ["a", "b"]);
  });

  it(`stops calling a deregistered, then an UNHEALTHY instance within ${PROPAGATION_BOUND_MS} ms, and starts calling a new one`, async () => {
    const [a, b, c2, d] = [await echo("a"), await echo("b"), await echo("c"), await echo("d")];
    for (const e of [a, b, c2]) await register("churn", e);
    const c = client("churn");
    await until("calls reach all three", async () => (await say(c)).instance !== undefined && a.hits.length > 0 && b.hits.length > 0 && c2.hits.length > 0, 10000);
    const load = startLoad(c);
    try {
      await t.client.deregister({ service: "churn", id: "a" });
      const deregisteredAt = performance.now();
      await sleep(PROPAGATION_BOUND_MS + 300);
      assert.ok(!a.hits.some((h) => h > deregisteredAt + PROPAGATION_BOUND_MS), `a deregistered instance got calls ${Math.round(Math.max(...a.hits) - deregisteredAt)} ms later`);
      console.log(`      deregistered: last call ${Math.max(0, Math.round(Math.max(...a.hits) - deregisteredAt))} ms after Deregister returned`);

      await register("churn", b, { status: InstanceStatus.UNHEALTHY });
      const unhealthyAt = performance.now();
      await sleep(PROPAGATION_BOUND_MS + 300);
      assert.ok(!b.hits.some((h) => h > unhealthyAt + PROPAGATION_BOUND_MS), "an UNHEALTHY instance still got calls");
      console.log(`      unhealthy: last call ${Math.max(0, Math.round(Math.max(...b.hits) - unhealthyAt))} ms after the status change`);

      await register("churn", d);
      const addedAt = performance.now();
      await until("the new instance gets calls", () => d.hits.length > 0, PROPAGATION_BOUND_MS);
      console.log(`      new instance: first call ${Math.round(d.hits[0]! - addedAt)} ms after Register returned`);
      assert.ok(load.samples.every((s) => s.error === undefined), `calls failed: ${load.samples.find((s) => s.error)?.error}`);
    } finally {
      await load.stop();
    }
  });

  it(`stops calling an expired instance within TTL + 1 s + ${PROPAGATION_BOUND_MS} ms of its last beat`, async () => {
    const [a, b] = [await echo("a"), await echo("b")];
    await register("expiring", a);
    await register("expiring", b, { ttlMs: 1000 });
    const registeredAt = performance.now();
    const c = client("expiring");
    const load = startLoad(c);
    try {
      await until("b expires from the calls", () => b.hits.length > 0 && performance.now() - b.hits[b.hits.length - 1]! > 300, 1000 + 1000 + PROPAGATION_BOUND_MS + 2000);
      const last = b.hits[b.hits.length - 1]! - registeredAt;
      console.log(`      expired (TTL 1 s, never renewed): last call ${Math.round(last)} ms after registration`);
      assert.ok(last < 1000 + 1000 + PROPAGATION_BOUND_MS);
      assert.ok(load.samples.every((s) => s.error === undefined));
    } finally {
      await load.stop();
    }
  });

  it("prefers the client's zone: every call stays there while it has a healthy instance", async () => {
    const [a, b] = [await echo("a"), await echo("b")];
    await register("zonal", a, { zone: "z1" });
    await register("zonal", b, { zone: "z2" });
    const c = client("zonal", "z1");
    await until("first call", async () => (await say(c)).instance !== undefined, 10000);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await say(c);
      counts.set(r.instance!, (counts.get(r.instance!) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()], ["a"], "every call stays in the client's zone");
    // The fallback to z2 works (ran by hand), but grpc-js-xds 1.14's priority policy then leaves a ref'd timer that channel.close() does not clear, so mocha
    // could not exit; the fallback rule is checked on the wire in xds-ads.test.ts (the client's zone at priority 0 even when empty, the rest at 1).
  });

  it("does not answer calls to a service with no instance (its Listener is absent) and starts serving when one registers, without waiting for the client to ask again", async () => {
    const c = client("later");
    // grpc-js treats a name never seen and missing from a full-set response as pending until its does-not-exist timer (15 s): calls wait.
    const r = await say(c, 500);
    assert.ok(r.error?.code === grpc.status.DEADLINE_EXCEEDED || r.error?.code === grpc.status.UNAVAILABLE, `got ${r.error?.code}`);
    const a = await echo("a");
    await register("later", a);
    await until("calls succeed", async () => (await say(c, 500)).instance === "a", 10000);
  });
});

describe("xDS end to end: a memory node restart", function () {
  this.timeout(60000);
  it("7.1 the client keeps calling through a registry restart while the SDK re-registers (never zero endpoints)", async () => {
    let t = await startTestServer({ timing: { xdsPushDelayMs: 20 } });
    const port = t.port;
    const [a, b] = [await startEcho("a"), await startEcho("b")];
    const registrar = new Registrar({ registry: t.url, backoff: { initialMs: 20, maxMs: 200 } });
    const c = xdsClient("xds:///restart", [`127.0.0.1:${port}`]);
    try {
      await registrar.register({ service: "restart", id: "a", host: "127.0.0.1", port: a.port, ttlMs: 9000 });
      await registrar.register({ service: "restart", id: "b", host: "127.0.0.1", port: b.port, ttlMs: 9000 });
      await until("both get calls", async () => (await say(c)).instance !== undefined && a.hits.length > 0 && b.hits.length > 0, 10000);
      const load = startLoad(c);
      await sleep(200);
      await t.close();
      await sleep(300);
      t = await startTestServer({ port, timing: { xdsPushDelayMs: 20 } });
      const restartedAt = performance.now();
      await until("both re-registered", async () => (await t.client.resolve({ service: "restart" })).instances.length === 2, 8000);
      await sleep(1500);
      await load.stop();
      const failed = load.samples.filter((s) => s.error !== undefined);
      assert.equal(failed.length, 0, `calls failed during the restart: ${failed[0]?.error}`);
      assert.ok(load.after(restartedAt + 1000).some((s) => s.instance === "a") && load.after(restartedAt + 1000).some((s) => s.instance === "b"), "both instances serve after the restart");
    } finally {
      c.close();
      await registrar.close();
      a.close();
      b.close();
      await t.close();
      rosterPorts.add(port);
    }
  });
});
