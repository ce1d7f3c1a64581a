import assert from "node:assert/strict";
import { InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { Registrar, ServiceCache, drain, type Registration } from "../src/sdk/index.js";
import { startTestServer, sleep, until, type TestServer } from "./helpers/server.js";
import { startTcpRelay } from "./helpers/tcp-relay.js";

const fast = { initialMs: 20, maxMs: 200 };

describe("Registrar", () => {
  let server: TestServer;
  const closers: (() => Promise<unknown> | void)[] = [];
  before(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });
  after(async () => {
    await server.close();
  });

  async function resolveAll(srv: TestServer, service: string, namespace = "default") {
    const res = await srv.client.resolve({ namespace, service, allStatuses: true });
    return res.instances;
  }

  it("keeps an instance alive with heartbeats past its TTL and deregisters on close (SEMANTICS 2.1, 2.3)", async () => {
    const registrar = new Registrar({ registry: server.url, backoff: fast });
    closers.push(() => registrar.close());
    const me = await registrar.register({ service: "alive", host: "10.0.0.1", port: 80, ttlMs: 1000 });
    assert.equal(me.state, "registered");
    assert.notEqual(me.id, "", "the registry assigns an id when none is given");
    await sleep(1800);
    assert.deepEqual((await resolveAll(server, "alive")).map((i) => i.id), [me.id]);
    await me.close();
    assert.deepEqual(await resolveAll(server, "alive"), []);
  });

  it("sends a status change on a beat at once, not at the next interval (SEMANTICS 6.1)", async () => {
    const registrar = new Registrar({ registry: server.url });
    closers.push(() => registrar.close());
    const me = await registrar.register({ service: "status", host: "10.0.0.1", port: 80, ttlMs: 30_000 });
    me.setStatus(InstanceStatus.STOPPING);
    await until("STOPPING reaches the registry", async () => (await resolveAll(server, "status"))[0]?.status === InstanceStatus.STOPPING, 1000);
  });

  it("reports load on the next beat", async () => {
    const registrar = new Registrar({ registry: server.url });
    closers.push(() => registrar.close());
    const me = await registrar.register({ service: "load", host: "10.0.0.1", port: 80, ttlMs: 1500 });
    me.setLoad(7);
    await until("the load reaches the registry", async () => (await resolveAll(server, "load"))[0]?.load === 7, 2000);
  });

  it("refuses an invalid spec without retrying (SEMANTICS 1.2)", async () => {
    const registrar = new Registrar({ registry: server.url });
    closers.push(() => registrar.close());
    await assert.rejects(registrar.register({ service: "Not_A_DNS_Name", host: "h", port: 1 }), /service/);
    assert.equal(registrar.registrations.length, 0);
  });

  it("drains: STOPPING first, then deregistered after the wait", async () => {
    const registrar = new Registrar({ registry: server.url });
    closers.push(() => registrar.close());
    await registrar.register({ service: "drain", id: "d1", host: "10.0.0.1", port: 80, ttlMs: 30_000 });
    const done = drain(registrar, { waitMs: 400 });
    await until("STOPPING during the drain", async () => (await resolveAll(server, "drain"))[0]?.status === InstanceStatus.STOPPING, 300);
    await done;
    assert.deepEqual(await resolveAll(server, "drain"), []);
  });

  it("runs every instance's Heartbeat stream over one HTTP/2 connection", async () => {
    const proxy = await startTcpRelay(server.port);
    closers.push(() => proxy.close());
    const registrar = new Registrar({ registry: `127.0.0.1:${proxy.port}` });
    closers.push(() => registrar.close());
    await Promise.all([1, 2, 3, 4].map((n) => registrar.register({ service: "shared", id: `s${n}`, host: "10.0.0.1", port: n, ttlMs: 3000 })));
    await sleep(1100);
    assert.equal((await resolveAll(server, "shared")).length, 4);
    assert.equal(proxy.connections, 1);
  });

  it("fails over to the next registry address when one is down", async () => {
    const other = await startTestServer();
    closers.push(() => other.close());
    const first = await startTestServer();
    const registrar = new Registrar({ registry: [first.url, other.url], backoff: fast });
    closers.push(() => registrar.close());
    const me = await registrar.register({ service: "failover", id: "f1", host: "10.0.0.1", port: 80, ttlMs: 1500 });
    await first.close();
    await until("registered on the second node", async () => (await resolveAll(other, "failover")).length === 1, 3000);
    assert.equal(me.id, "f1");
  });

  it("re-registers after the registry restarts, and watchers converge with nothing lost or duplicated (SEMANTICS 2.4, 7.1)", async () => {
    const node = await startTestServer();
    let current = node;
    closers.push(() => current.close());
    const registrar = new Registrar({ registry: node.url, backoff: fast });
    closers.push(() => registrar.close());
    const events: string[] = [];
    registrar.on("lost", (r) => events.push(`lost ${r.id}`));
    registrar.on("registered", (r) => events.push(`registered ${r.id}`));
    const regs: Registration[] = await Promise.all(["a", "b"].map((id) => registrar.register({ service: "restart", id, host: "10.0.0.1", port: 80, ttlMs: 1500 })));
    const cache = new ServiceCache({ registry: node.url, services: ["restart"], protectEmptyMs: 3000, backoff: fast });
    closers.push(() => cache.close());
    await cache.ready();
    const seen: string[][] = [];
    cache.on("instances", (_s, list) => seen.push(list.map((i) => i.id)));

    await node.close();
    const restartedAt = Date.now();
    current = await startTestServer({ port: node.port });
    await until("both instances back in the registry", async () => (await resolveAll(current, "restart")).length === 2, 3000);
    const recovery = Date.now() - restartedAt;
    await until("the cache converges", () => cache.instances("restart").length === 2 && !cache.isStale("restart"), 3000);

    assert.deepEqual(cache.instances("restart").map((i) => i.id), ["a", "b"]);
    const status = await current.client.getStatus({});
    assert.equal(status.instances, 2, "re-registration creates no duplicate");
    for (const list of seen) {
      assert.notEqual(list.length, 0, "readers never see an empty list with push-empty protection on");
      assert.equal(new Set(list).size, list.length, "never a duplicate");
    }
    assert.ok(events.includes("lost a") && events.includes("lost b"), events.join(", "));
    assert.equal(events.filter((e) => e === "registered a").length, 2);
    assert.ok(recovery < 500 + 1000, `re-registered ${recovery} ms after the restart, within one beat interval`);
    assert.ok(regs.every((r) => r.state !== "closed"));
  });
});

