import assert from "node:assert/strict";
import fc from "fast-check";
import { InstanceStatus, type Instance } from "../gen/roster/v1/registry_pb.js";
import { ServiceCache, type CacheChange, type InstanceRecord } from "../src/sdk/index.js";
import { startTestServer, sleep, until, type TestServer } from "./helpers/server.js";
import { startTcpRelay } from "./helpers/tcp-relay.js";

const fast = { initialMs: 20, maxMs: 150 };

type Op =
  | { readonly kind: "register"; readonly id: number; readonly tag: string; readonly weight: number; readonly status: InstanceStatus }
  | { readonly kind: "deregister"; readonly id: number }
  | { readonly kind: "expire"; readonly id: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("register" as const),
    id: fc.integer({ min: 0, max: 4 }),
    tag: fc.constantFrom("v1", "v2"),
    weight: fc.integer({ min: 1, max: 3 }),
    status: fc.constantFrom(InstanceStatus.HEALTHY, InstanceStatus.UNHEALTHY, InstanceStatus.STOPPING),
  }),
  fc.record({ kind: fc.constant("deregister" as const), id: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant("expire" as const), id: fc.integer({ min: 0, max: 2 }) }),
);

describe("ServiceCache", () => {
  let server: TestServer;
  const closers: (() => Promise<unknown> | void)[] = [];
  before(async () => {
    // A short history makes some reconnects resume and others reset; progress markers let an idle cache reach the registry's revision.
    server = await startTestServer({
      limits: { minTtlMs: 100 },
      timing: { historySize: 10, watchProgressIntervalMs: 100, sweepIntervalMs: 50, expiryProtectionThreshold: 1 },
    });
  });
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });
  after(async () => {
    await server.close();
  });

  async function apply(service: string, op: Op): Promise<void> {
    if (op.kind === "register") {
      await server.client.register({ service, id: `i${op.id}`, host: "10.0.0.1", port: 8000 + op.id, tags: [op.tag], weight: op.weight, status: op.status });
    } else if (op.kind === "expire") {
      // A lease nobody renews: the registry removes it with reason expired (SEMANTICS 2.1).
      await server.client.register({ service, id: `e${op.id}`, host: "10.0.0.2", port: 9000 + op.id, ttl: { seconds: 0n, nanos: 100e6 } });
    } else {
      await server.client.deregister({ service, id: `i${op.id}` }).catch(() => {});
    }
  }

  /** Waits until the cache reflects the same revision as a Resolve, then compares the lists. */
  async function assertConverged(cache: ServiceCache, service: string): Promise<void> {
    const end = Date.now() + 5000;
    for (;;) {
      const res = await server.client.resolve({ service, allStatuses: true });
      if (cache.revision(service) === res.revision) {
        assert.deepEqual(cache.instances(service, { allStatuses: true }).map(describeRecord), res.instances.map(describeWire).sort());
        return;
      }
      if (Date.now() > end) throw new Error(`cache at ${cache.revision(service)}, registry at ${res.revision}`);
      await sleep(25);
    }
  }

  it("ends in exactly the registry's state after reconnecting past missed changes (SEMANTICS 4.2, 4.3)", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 6 }), fc.array(opArb, { minLength: 1, maxLength: 16 }), async (before, during) => {
        const service = `prop-${run++}`;
        const proxy = await startTcpRelay(server.port);
        const cache = new ServiceCache({ registry: `127.0.0.1:${proxy.port}`, services: [service], backoff: fast });
        try {
          await cache.ready();
          for (const op of before) await apply(service, op);
          proxy.cut();
          for (const op of during) await apply(service, op);
          if ([...before, ...during].some((o) => o.kind === "expire")) await sleep(200);
          proxy.restore();
          await assertConverged(cache, service);
        } finally {
          await cache.close();
          await proxy.close();
        }
      }),
      { numRuns: 15 },
    );
  });

  it("rebuilds after a reset without exposing a half-built or empty list (SEMANTICS 4.2)", async () => {
    const service = "reset";
    for (const id of ["a", "b", "c"]) await server.client.register({ service, id, host: "10.0.0.1", port: 1 });
    const proxy = await startTcpRelay(server.port);
    closers.push(() => proxy.close());
    const cache = new ServiceCache({ registry: `127.0.0.1:${proxy.port}`, services: [service], backoff: fast });
    closers.push(() => cache.close());
    await cache.ready();
    let snapshots = 0;
    cache.on("synced", () => snapshots++);
    const seen: string[][] = [];
    cache.on("instances", (_s, list) => seen.push(list.map((i) => i.id)));
    proxy.cut();
    // More changes than the history keeps, so the resume gets a RESET.
    for (let n = 0; n < 15; n++) await server.client.register({ service, id: "x", host: "10.0.0.1", port: 2, weight: 1 + (n % 5) });
    await server.client.deregister({ service, id: "b" });
    proxy.restore();
    await until("the rebuild", () => snapshots === 1, 3000);
    await assertConverged(cache, service);
    assert.ok(seen.length > 0);
    for (const list of seen) {
      assert.ok(list.includes("a") && list.includes("c"), `a half-built list was visible: ${list}`);
    }
  });

  it("keeps serving the last list for a while when a service goes empty, flagged stale (push-empty protection)", async () => {
    const service = "empty";
    await server.client.register({ service, id: "only", host: "10.0.0.1", port: 1 });
    const cache = new ServiceCache({ registry: server.url, services: [service], protectEmptyMs: 400 });
    closers.push(() => cache.close());
    await cache.ready();
    const stale: boolean[] = [];
    cache.on("stale", (_s, s) => stale.push(s));

    await server.client.deregister({ service, id: "only" });
    await until("protection starts", () => cache.isStale(service), 1000);
    assert.deepEqual(cache.instances(service).map((i) => i.id), ["only"]);
    await until("protection ends", () => !cache.isStale(service), 1000);
    assert.deepEqual(cache.instances(service), []);

    await server.client.register({ service, id: "again", host: "10.0.0.1", port: 1 });
    await until("back", () => cache.instances(service).length === 1, 1000);
    await server.client.deregister({ service, id: "again" });
    await until("protection starts again", () => cache.isStale(service), 1000);
    await server.client.register({ service, id: "third", host: "10.0.0.1", port: 1 });
    await until("an instance ends protection at once", () => !cache.isStale(service) && cache.instances(service)[0]?.id === "third", 300);
    assert.deepEqual(stale, [true, false, true, false]);
  });

  it("streams changes in revision order as an async iterator and as events", async () => {
    const service = "iter";
    const cache = new ServiceCache({ registry: server.url, services: [service] });
    closers.push(() => cache.close());
    await cache.ready();
    const events: string[] = [];
    cache.on("change", (c) => events.push(`${c.kind} ${c.instance.id}`));
    const got: CacheChange[] = [];
    const reading = (async () => {
      for await (const c of cache) {
        got.push(c);
        if (got.length === 3) break;
      }
    })();
    await server.client.register({ service, id: "m", host: "10.0.0.1", port: 1 });
    await server.client.register({ service, id: "m", host: "10.0.0.1", port: 1, status: InstanceStatus.STOPPING });
    await server.client.deregister({ service, id: "m" });
    await reading;
    assert.deepEqual(got.map((c) => (c.kind === "stale" ? "stale" : `${c.kind} ${c.instance.id}`)), ["added m", "updated m", "removed m"]);
    assert.deepEqual(events, ["added m", "updated m", "removed m"]);
    const revisions = got.map((c) => (c.kind === "stale" ? 0n : c.revision));
    assert.ok(revisions[0]! < revisions[1]! && revisions[1]! < revisions[2]!);
  });

  it("picks locally with Resolve's strategies; least_loaded counts the caller's in-flight requests (SEMANTICS 5.2)", async () => {
    const service = "pick";
    for (const id of ["p1", "p2", "p3"]) await server.client.register({ service, id, host: "10.0.0.1", port: 1, weight: id === "p3" ? 0 : 1 });
    await server.client.register({ service, id: "sick", host: "10.0.0.1", port: 1, status: InstanceStatus.UNHEALTHY });
    const cache = new ServiceCache({ registry: server.url, services: [service] });
    closers.push(() => cache.close());
    await cache.ready();
    assert.deepEqual(cache.instances(service).map((i) => i.id), ["p1", "p2", "p3"]);
    assert.equal(cache.instances(service, { allStatuses: true }).length, 4);
    const rr = [0, 1, 2, 3, 4, 5].map(() => cache.pick(service, "round_robin")!.id);
    assert.deepEqual(new Set(rr), new Set(["p1", "p2", "p3"]));
    assert.equal(rr[0], rr[3]);
    for (const s of ["random", "weighted"] as const) assert.notEqual(cache.pick(service, s)?.id, "sick");
    const held = (id: string) => cache.track(cache.instances(service).find((i) => i.id === id)!);
    const releases = [held("p1"), held("p1"), held("p3")];
    assert.equal(cache.pick(service, "least_loaded")!.id, "p2");
    for (const r of releases) r();
    assert.equal(cache.inFlight(cache.instances(service)[0]!), 0);
  });
});

function describeRecord(i: InstanceRecord): string {
  return `${i.id} ${i.host}:${i.port} s${i.status} w${i.weight} [${i.tags.join(",")}] @${i.modRevision}`;
}

function describeWire(i: Instance): string {
  return `${i.id} ${i.host}:${i.port} s${i.status} w${i.weight} [${i.tags.join(",")}] @${i.modRevision}`;
}

