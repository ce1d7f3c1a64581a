import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { startTestServer, type TestServer } from "./helpers/server.js";

// A client in "another language": only proto/ and a stock gRPC stack, no generated TypeScript.
const protoDir = fileURLToPath(new URL("../proto", import.meta.url));
const definition = protoLoader.loadSync("roster/v1/registry.proto", { includeDirs: [protoDir], longs: String, enums: String, defaults: true, keepCase: false });
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  roster: { v1: { RegistryService: new (address: string, creds: grpc.ChannelCredentials, options?: object) => RawClient } };
};

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
interface RawClient extends grpc.Client {
  register(req: object, cb: Callback<{ instance: Record<string, unknown>; created: boolean; revision: string }>): void;
  deregister(req: object, cb: Callback<{ revision: string }>): void;
  resolve(req: object, cb: Callback<{ instances: Record<string, unknown>[]; revision: string }>): void;
  listServices(req: object, cb: Callback<{ services: { name: string; instances: number }[] }>): void;
  heartbeat(cb: Callback<{ beats: string }>): grpc.ClientWritableStream<object>;
  watch(req: object): grpc.ClientReadableStream<{ type: string; revision: string; instance?: { id: string }; reason: string }>;
}

function call<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

describe("A grpc-js client with proto-loader (polyglot interop)", function () {
  this.timeout(15000);
  let t: TestServer;
  let client: RawClient;
  before(async () => {
    t = await startTestServer({ limits: { minTtlMs: 200 } });
    client = new pkg.roster.v1.RegistryService(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await t.close();
  });

  it("registers, watches, heartbeats, resolves and deregisters", async () => {
    const events: { type: string; id?: string; reason: string }[] = [];
    const watch = client.watch({ service: "polyglot" });
    watch.on("data", (e) => events.push({ type: e.type, ...(e.instance ? { id: e.instance.id } : {}), reason: e.reason }));
    watch.on("error", () => {});
    const reg = await call<{ instance: Record<string, unknown>; created: boolean; revision: string }>((cb) =>
      client.register({ service: "polyglot", id: "py-1", host: "10.1.1.1", port: 5000, metadata: { lang: "python" }, ttl: { seconds: 2 } }, cb),
    );
    assert.equal(reg.created, true);
    assert.equal(reg.instance.id, "py-1");
    assert.equal(reg.instance.status, "INSTANCE_STATUS_HEALTHY");

    const beats = await new Promise<{ beats: string }>((resolve, reject) => {
      const stream = client.heartbeat((err, res) => (err ? reject(err) : resolve(res)));
      stream.write({ service: "polyglot", id: "py-1", load: 4 });
      stream.write({ status: "INSTANCE_STATUS_STOPPING" });
      stream.end();
    });
    assert.equal(beats.beats, "2");

    const all = await call<{ instances: Record<string, unknown>[]; revision: string }>((cb) => client.resolve({ service: "polyglot", allStatuses: true }, cb));
    assert.equal(all.instances.length, 1);
    assert.equal(all.instances[0]!.status, "INSTANCE_STATUS_STOPPING");
    assert.equal(all.instances[0]!.load, 4);
    const healthy = await call<{ instances: unknown[] }>((cb) => client.resolve({ service: "polyglot" }, cb));
    assert.equal(healthy.instances.length, 0);

    const services = await call<{ services: { name: string; instances: number }[] }>((cb) => client.listServices({}, cb));
    assert.ok(services.services.some((s) => s.name === "polyglot" && s.instances === 1));

    await call((cb) => client.deregister({ service: "polyglot", id: "py-1" }, cb));
    const deadline = Date.now() + 3000;
    while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.cancel();
    assert.deepEqual(
      events.map((e) => [e.type, e.id ?? "", e.reason]),
      [
        ["WATCH_EVENT_TYPE_SNAPSHOT_COMPLETE", "", "REMOVAL_REASON_UNSPECIFIED"],
        ["WATCH_EVENT_TYPE_ADDED", "py-1", "REMOVAL_REASON_UNSPECIFIED"],
        ["WATCH_EVENT_TYPE_UPDATED", "py-1", "REMOVAL_REASON_UNSPECIFIED"],
        ["WATCH_EVENT_TYPE_REMOVED", "py-1", "REMOVAL_REASON_DEREGISTERED"],
      ],
    );
  });

  it("gets the right status codes: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, RESOURCE_EXHAUSTED", async () => {
    const code = (p: Promise<unknown>) => p.then(() => grpc.status.OK, (e: grpc.ServiceError) => e.code);
    assert.equal(await code(call((cb) => client.register({ service: "BAD", host: "h", port: 1 }, cb))), grpc.status.INVALID_ARGUMENT);
    assert.equal(await code(call((cb) => client.register({ service: "ok", host: "h", port: 1, ttl: { seconds: -1 } }, cb))), grpc.status.INVALID_ARGUMENT);
    assert.equal(await code(call((cb) => client.deregister({ service: "ok", id: "missing" }, cb))), grpc.status.NOT_FOUND);
    assert.equal(await code(call((cb) => client.resolve({ service: "none", strategy: "STRATEGY_RANDOM" }, cb))), grpc.status.NOT_FOUND);
    await call((cb) => client.register({ service: "down", id: "d", host: "h", port: 1, status: "INSTANCE_STATUS_UNHEALTHY" }, cb));
    assert.equal(await code(call((cb) => client.resolve({ service: "down", strategy: "STRATEGY_RANDOM" }, cb))), grpc.status.UNAVAILABLE);
    const tags = Array.from({ length: 100 }, (_, i) => `t${i}`);
    assert.equal(await code(call((cb) => client.register({ service: "ok", host: "h", port: 1, tags }, cb))), grpc.status.RESOURCE_EXHAUSTED);
    const hb = await new Promise<number>((resolve) => {
      const stream = client.heartbeat((err) => resolve(err ? err.code : grpc.status.OK));
      stream.write({ service: "ok", id: "ghost" });
    });
    assert.equal(hb, grpc.status.NOT_FOUND);
  });

  it("reads status messages as written (the gRPC spec's percent-encoding), uncompressed (fast path) and gzip (Connect)", async () => {
    const gzip = new pkg.roster.v1.RegistryService(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    try {
      for (const c of [client, gzip]) {
        const details = (p: Promise<unknown>) => p.then(() => "OK", (e: grpc.ServiceError) => e.details);
        assert.equal(await details(call((cb) => c.register({ host: "h", port: 1 }, cb))), "service: is required");
        assert.equal(await details(call((cb) => c.deregister({ service: "svc", id: "x" }, cb))), "instance default/svc/x not found");
        assert.equal(await details(call((cb) => c.register({ service: "ok", id: "é", host: "h", port: 1 }, cb))).then((d) => d.startsWith("id: ")), true);
      }
    } finally {
      gzip.close();
    }
  });

  it("sees an expiry with reason EXPIRED", async () => {
    const events: string[] = [];
    const watch = client.watch({ service: "lapse" });
    watch.on("data", (e) => events.push(`${e.type}:${e.reason}`));
    watch.on("error", () => {});
    await call((cb) => client.register({ service: "lapse", id: "x", host: "h", port: 1, ttl: { nanos: 300_000_000 } }, cb));
    const deadline = Date.now() + 3000;
    while (!events.includes("WATCH_EVENT_TYPE_REMOVED:REMOVAL_REASON_EXPIRED") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    watch.cancel();
    assert.ok(events.includes("WATCH_EVENT_TYPE_REMOVED:REMOVAL_REASON_EXPIRED"), events.join(" "));
  });

  it("the standard health service answers SERVING", async () => {
    const health = protoLoader.loadSync("grpc/health/v1/health.proto", { includeDirs: [protoDir], enums: String });
    const hpkg = grpc.loadPackageDefinition(health) as unknown as {
      grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { check(r: object, cb: Callback<{ status: string }>): void } } } };
    };
    const h = new hpkg.grpc.health.v1.Health(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
    const res = await call<{ status: string }>((cb) => h.check({ service: "" }, cb));
    h.close();
    assert.equal(res.status, "SERVING");
  });
});
