import { strict as assert } from "node:assert";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CheckStatus,
  InstanceStatus,
  RemovalReason,
  WatchEventType,
  type HealthCheckSchema,
  type Instance,
  type RegistryService,
} from "../gen/roster/v1/registry_pb.js";
import { durationFromMs } from "../src/core/duration.js";
import { startGrpcHealthTarget, startHttpTarget, startTcpTarget, type HttpTarget } from "./helpers/check-targets.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { collectWatch, type Collected } from "./helpers/watch.js";
import { clientThrough, frontEnds, frontEndTitles } from "./semantics/target.js";

type CheckInit = MessageInitShape<typeof HealthCheckSchema>;

const fast = { interval: durationFromMs(100), timeout: durationFromMs(80), failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2 };
const httpCheck = (o: CheckInit = {}): CheckInit => ({ ...fast, kind: { case: "http", value: { path: "/healthz" } }, ...o });

async function instance(client: Client<typeof RegistryService>, service: string, id: string): Promise<Instance | undefined> {
  return (await client.resolve({ service, allStatuses: true })).instances.find((i) => i.id === id);
}

async function statusOf(client: Client<typeof RegistryService>, service: string, id: string): Promise<InstanceStatus | undefined> {
  return (await instance(client, service, id))?.status;
}

function updates(w: Collected): InstanceStatus[] {
  return w.events.filter((e) => e.type === WatchEventType.UPDATED).map((e) => e.instance!.status);
}

for (const store of ["memory", "redis"] as const)
describe(`checks on the ${store} store (SEMANTICS 6.2, 6.3)`, function () {
  this.timeout(30_000);
  let t: TestServer;
  let redis: TestRedis | undefined;
  let target: HttpTarget;
  before(async () => {
    const limits = { minCheckIntervalMs: 100, maxChecks: 12 };
    if (store === "memory") t = await startTestServer({ limits });
    else {
      redis = await startRedis();
      t = await startTestServer({ limits, store: redis.url, redisPrefix: `checks${process.pid}` });
    }
  });
  after(async () => {
    await t.close();
    await redis?.close();
  });
  beforeEach(async () => (target = await startHttpTarget()));
  afterEach(() => target.close());

  it("6.2 an instance with no TTL and an HTTP check goes UNHEALTHY after N failures in a row (one UPDATED) and HEALTHY again after M successes", async () => {
    const w = collectWatch(t.client, { service: "web" });
    await t.client.register({ service: "web", id: "a", host: "127.0.0.1", port: target.port, checks: [httpCheck()] });
    await until("PASSING", async () => (await instance(t.client, "web", "a"))?.checkResults[0]?.status === CheckStatus.PASSING);
    assert.equal(await statusOf(t.client, "web", "a"), InstanceStatus.HEALTHY);
    assert.deepEqual(updates(w), [InstanceStatus.HEALTHY], "PENDING -> PASSING is one UPDATED that leaves the status alone");
    assert.deepEqual({ ...(await t.client.getStatus({})).checks, $typeName: undefined }, { $typeName: undefined, owned: 1, members: 1, protection: false }, "GetStatus shows the node's share");
    const before = target.hits;
    target.mode = "fail";
    await until("UNHEALTHY", async () => (await statusOf(t.client, "web", "a")) === InstanceStatus.UNHEALTHY);
    assert.ok(target.hits - before >= 3, `UNHEALTHY after ${target.hits - before} failing probes; needs 3`);
    assert.deepEqual((await t.client.resolve({ service: "web" })).instances, [], "Resolve skips it");
    const i = (await instance(t.client, "web", "a"))!;
    assert.equal(i.reportedStatus, InstanceStatus.HEALTHY);
    assert.equal(i.checkResults[0]?.status, CheckStatus.FAILING);
    assert.equal(i.checkResults[0]?.output, "HTTP 503: database unreachable");
    // More failures change nothing further.
    const failing = target.hits;
    await until("three more probes", () => target.hits >= failing + 3);
    assert.deepEqual(updates(w), [InstanceStatus.HEALTHY, InstanceStatus.UNHEALTHY], "exactly one UPDATED to UNHEALTHY");
    const recovering = target.hits;
    target.mode = "ok";
    await until("HEALTHY", async () => (await statusOf(t.client, "web", "a")) === InstanceStatus.HEALTHY);
    assert.ok(target.hits - recovering >= 2, "HEALTHY after 2 successes");
    assert.deepEqual(updates(w), [InstanceStatus.HEALTHY, InstanceStatus.UNHEALTHY, InstanceStatus.HEALTHY]);
    assert.equal((await t.client.resolve({ service: "web" })).instances.length, 1);
    await w.stop();
    await t.client.deregister({ service: "web", id: "a" });
  });

  it("6.2 a single failure never flips the status, however often one recurs", async () => {
    const w = collectWatch(t.client, { service: "flaky" });
    await t.client.register({ service: "flaky", id: "a", host: "127.0.0.1", port: target.port, checks: [httpCheck({ failuresBeforeUnhealthy: 2 })] });
    await until("PASSING", async () => (await instance(t.client, "flaky", "a"))?.checkResults[0]?.status === CheckStatus.PASSING);
    const start = target.hits;
    for (let k = 0; k < 8; k++) target.plan.push("fail", "ok");
    await until("16 alternating probes", () => target.hits >= start + 16);
    assert.equal(await statusOf(t.client, "flaky", "a"), InstanceStatus.HEALTHY);
    assert.deepEqual(updates(w), [InstanceStatus.HEALTHY], "only the PENDING -> PASSING flip, which changes no status");
    await w.stop();
    await t.client.deregister({ service: "flaky", id: "a" });
  });

  it("6.2 a probe that times out counts as a failure", async () => {
    await t.client.register({ service: "slow", id: "a", host: "127.0.0.1", port: target.port, checks: [httpCheck({ timeout: durationFromMs(50) })] });
    target.mode = "hang";
    await until("UNHEALTHY", async () => (await statusOf(t.client, "slow", "a")) === InstanceStatus.UNHEALTHY);
    assert.match((await instance(t.client, "slow", "a"))!.checkResults[0]!.output, /timed out after 50 ms/);
    await t.client.deregister({ service: "slow", id: "a" });
  });

  it("6.3 an instance's own STOPPING wins over a failing check; a passing check never raises a reported UNHEALTHY", async () => {
    target.mode = "fail";
    const spec = { service: "drain", id: "a", host: "127.0.0.1", port: target.port, checks: [httpCheck()] };
    await t.client.register(spec);
    await until("UNHEALTHY", async () => (await statusOf(t.client, "drain", "a")) === InstanceStatus.UNHEALTHY);
    await t.client.register({ ...spec, status: InstanceStatus.STOPPING });
    const i = (await instance(t.client, "drain", "a"))!;
    assert.equal(i.status, InstanceStatus.STOPPING);
    assert.equal(i.checkResults[0]?.status, CheckStatus.FAILING, "the re-register kept what the check learnt");
    target.mode = "ok";
    await t.client.register({ ...spec, status: InstanceStatus.UNHEALTHY });
    await until("PASSING", async () => (await instance(t.client, "drain", "a"))?.checkResults[0]?.status === CheckStatus.PASSING);
    assert.equal(await statusOf(t.client, "drain", "a"), InstanceStatus.UNHEALTHY);
    await t.client.deregister({ service: "drain", id: "a" });
  });

  it("6.2 an instance whose check fails for longer than its deregister-after is removed with reason CHECK_FAILED, seen once by a watcher", async () => {
    target.mode = "fail";
    const w = collectWatch(t.client, { service: "doomed" });
    await t.client.register({ service: "doomed", id: "a", host: "127.0.0.1", port: target.port, checks: [httpCheck({ failuresBeforeUnhealthy: 2, deregisterAfter: durationFromMs(300) })] });
    await until("removed", async () => (await instance(t.client, "doomed", "a")) === undefined);
    const unhealthyAt = w.events.findIndex((e) => e.type === WatchEventType.UPDATED && e.instance?.status === InstanceStatus.UNHEALTHY);
    assert.ok(unhealthyAt >= 0, "UNHEALTHY first");
    const hits = target.hits;
    // Absence can only be shown by waiting: four more intervals.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(target.hits, hits, "no probe after the removal");
    const removed = w.events.filter((e) => e.type === WatchEventType.REMOVED);
    assert.equal(removed.length, 1);
    assert.equal(removed[0]!.reason, RemovalReason.CHECK_FAILED);
    await w.stop();
  });

  it("6.2 a TCP check follows its port opening and closing", async () => {
    const tcp = await startTcpTarget();
    await t.client.register({ service: "tcp", id: "a", host: "127.0.0.1", port: tcp.port, checks: [{ ...fast, kind: { case: "tcp", value: {} } }] });
    await until("PASSING", async () => (await instance(t.client, "tcp", "a"))?.checkResults[0]?.status === CheckStatus.PASSING);
    await tcp.stop();
    await until("UNHEALTHY", async () => (await statusOf(t.client, "tcp", "a")) === InstanceStatus.UNHEALTHY);
    assert.match((await instance(t.client, "tcp", "a"))!.checkResults[0]!.output, /ECONNREFUSED/);
    await tcp.start();
    await until("HEALTHY", async () => (await statusOf(t.client, "tcp", "a")) === InstanceStatus.HEALTHY);
    await t.client.deregister({ service: "tcp", id: "a" });
    await tcp.close();
  });

  it("6.2 a gRPC check follows grpc.health.v1 on one long-lived Watch", async () => {
    const grpc = await startGrpcHealthTarget();
    grpc.set("echo.Echo", "SERVING");
    await t.client.register({ service: "grpc", id: "a", host: "127.0.0.1", port: grpc.port, checks: [{ ...fast, kind: { case: "grpc", value: { service: "echo.Echo" } } }] });
    await until("PASSING", async () => (await instance(t.client, "grpc", "a"))?.checkResults[0]?.status === CheckStatus.PASSING);
    grpc.set("echo.Echo", "NOT_SERVING");
    await until("UNHEALTHY", async () => (await statusOf(t.client, "grpc", "a")) === InstanceStatus.UNHEALTHY);
    assert.equal((await instance(t.client, "grpc", "a"))!.checkResults[0]!.output, 'gRPC health of service "echo.Echo": NOT_SERVING');
    grpc.set("echo.Echo", "SERVING");
    await until("HEALTHY", async () => (await statusOf(t.client, "grpc", "a")) === InstanceStatus.HEALTHY);
    assert.equal(grpc.watches, 1, "probes read one stream");
    await t.client.deregister({ service: "grpc", id: "a" });
    await until("stream closed once no check needs it", () => grpc.openWatches === 0);
    grpc.close();
  });

  for (const frontEnd of frontEnds) {
    it(`6.2 too many checks are refused with RESOURCE_EXHAUSTED, an interval below the minimum with INVALID_ARGUMENT, alike through ${frontEndTitles[frontEnd]}`, async () => {
      const client = clientThrough(frontEnd, t.url);
      const refused = async (checks: CheckInit[], code: Code, message: string) =>
        assert.rejects(client.register({ service: "lim", id: "a", host: "127.0.0.1", port: 1, checks }), (e: unknown) => {
          const err = ConnectError.from(e);
          assert.equal(err.code, code, err.message);
          assert.equal(err.rawMessage, message);
          return true;
        });
      await refused(Array.from({ length: 5 }, (_, i) => httpCheck({ name: `c${i}` })), Code.ResourceExhausted, "limit max-checks-per-instance=4 reached: checks has 5");
      await refused([httpCheck({ interval: durationFromMs(50) })], Code.InvalidArgument, "checks[0].interval: must be at least 100 ms (min-check-interval-ms)");
      const four = Array.from({ length: 4 }, (_, i) => httpCheck({ name: `c${i}`, interval: durationFromMs(60_000), initialDelay: durationFromMs(60_000) }));
      for (const id of ["x", "y", "z"]) await client.register({ service: "lim", id, host: "127.0.0.1", port: 1, checks: four });
      await assert.rejects(client.register({ service: "lim", id: "w", host: "127.0.0.1", port: 1, checks: [httpCheck()] }), (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.ResourceExhausted, err.message);
        assert.match(err.rawMessage, /^limit max-checks=12 reached/);
        return true;
      });
      for (const id of ["x", "y", "z"]) await client.deregister({ service: "lim", id });
    });
  }
});
