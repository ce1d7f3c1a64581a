import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { RegistryService, WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { collectWatch } from "./helpers/watch.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";

describe("Protocols on one port (gRPC fast path, gRPC via Connect, gRPC-Web, Connect)", function () {
  this.timeout(20000);
  let t: TestServer;
  let h1: string;
  before(async () => {
    t = await startTestServer({ http1Port: -1 });
    h1 = `http://127.0.0.1:${t.server.http1Port}`;
  });
  after(() => t.close());

  it("serves the Connect protocol over HTTP/2 (binary) including both stream kinds", async () => {
    const client = createClient(RegistryService, createConnectTransport({ baseUrl: t.url, httpVersion: "2" }));
    const w = collectWatch(client, { service: "conn" });
    await w.waitFor(1);
    await client.register({ service: "conn", id: "a", host: "h", port: 1, ttl: { seconds: 5n } });
    const beats = await client.heartbeat((async function* () {
      yield { service: "conn", id: "a", load: 2 };
      yield {};
    })());
    assert.equal(beats.beats, 2n);
    await w.waitFor(2);
    await w.stop();
    assert.equal(w.events[1]!.type, WatchEventType.ADDED);
  });

  it("serves Connect JSON and gRPC-Web over plain HTTP/1.1", async () => {
    const json = createClient(RegistryService, createConnectTransport({ baseUrl: h1, httpVersion: "1.1", useBinaryFormat: false }));
    await json.register({ service: "web", id: "a", host: "h", port: 1 });
    const web = createClient(RegistryService, createGrpcWebTransport({ baseUrl: h1, httpVersion: "1.1" }));
    assert.deepEqual((await web.resolve({ service: "web" })).instances.map((i) => i.id), ["a"]);
    const w = collectWatch(web, { service: "web" });
    await w.waitFor(2);
    await w.stop();
    assert.deepEqual(w.events.map((e) => e.type), [WatchEventType.ADDED, WatchEventType.SNAPSHOT_COMPLETE]);
    await assert.rejects(json.deregister({ service: "web", id: "zz" }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
    const res = await fetch(`${h1}/metrics`);
    assert.match(await res.text(), /roster_instances \d+/);
    const health = await fetch(`${h1}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { store: string }).store, "memory");
  });

  it("hands compressed gRPC to Connect, which answers it the same way", async () => {
    const def = protoLoader.loadSync("roster/v1/registry.proto", { includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))], longs: String });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      roster: { v1: { RegistryService: new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & Record<string, (r: object, cb: (e: grpc.ServiceError | null, r: { instances: unknown[] }) => void) => void> } };
    };
    const c = new pkg.roster.v1.RegistryService(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    const meta = { big: "x".repeat(5000) };
    await new Promise<void>((resolve, reject) => c.register!({ service: "gz", id: "a", host: "h", port: 1, metadata: meta }, (e) => (e ? reject(e) : resolve())));
    const res = await new Promise<{ instances: unknown[] }>((resolve, reject) => c.resolve!({ service: "gz" }, (e, r) => (e ? reject(e) : resolve(r))));
    c.close();
    assert.equal(res.instances.length, 1);
  });

  it("ends a fast-path watch at its deadline with DEADLINE_EXCEEDED and frees its stream slot", async () => {
    const w = t.client.watch({ service: "deadline" }, { timeoutMs: 300 });
    let code: Code | undefined;
    try {
      for await (const ev of w) void ev;
    } catch (e) {
      code = ConnectError.from(e).code;
    }
    assert.equal(code, Code.DeadlineExceeded);
    await until("slot freed", async () => (await t.client.getStatus({})).watchers === 0);
  });

  it("refuses a request message over 4 MiB with RESOURCE_EXHAUSTED and keeps serving", async () => {
    await assert.rejects(
      t.client.register({ service: "huge", host: "h", port: 1, metadata: { k: "x".repeat(5 * 1024 * 1024) } }),
      (e: unknown) => ConnectError.from(e).code === Code.ResourceExhausted,
    );
    assert.ok((await t.client.getStatus({})).revision > 0n);
  });
});
