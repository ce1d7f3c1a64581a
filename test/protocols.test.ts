import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { RegisterRequestSchema, RegistryService, WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { conformResponse } from "../src/server/connect-adapter.js";
import { collectWatch } from "./helpers/watch.js";
import { sleep, startTestServer, until, type TestServer } from "./helpers/server.js";
import { rawUnary } from "./semantics/raw-call.js";
import { frontEnds } from "./semantics/target.js";

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

  it("ends a watch at its deadline with DEADLINE_EXCEEDED and the same message on the fast path and through Connect, and frees its stream slot", async () => {
    const ended: string[] = [];
    for (const client of [t.client, createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, sendCompression: compressionGzip }))]) {
      try {
        for await (const ev of client.watch({ service: "deadline" }, { timeoutMs: 300 })) void ev;
        ended.push("OK");
      } catch (e) {
        const err = ConnectError.from(e);
        ended.push(`${Code[err.code]}: ${err.rawMessage}`);
      }
    }
    assert.deepEqual(ended, ["DeadlineExceeded: the operation timed out", "DeadlineExceeded: the operation timed out"]);
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

/** One raw gRPC call: the status and message it ends with (or the HTTP status when it is not gRPC at all). */
function rawGrpc(url: string, path: string, messages: Buffer[], options: { gzip?: boolean; headers?: Record<string, string>; endStream?: boolean } = {}) {
  const session = http2.connect(url);
  const req = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...(options.gzip ? { "grpc-encoding": "gzip" } : {}),
    ...options.headers,
  });
  const envelopes = messages.map((m) => {
    const body = options.gzip ? gzipSync(m) : m;
    const head = Buffer.alloc(5);
    head[0] = options.gzip ? 1 : 0;
    head.writeUInt32BE(body.length, 1);
    return Buffer.concat([head, body]);
  });
  return {
    session,
    req,
    outcome: new Promise<{ status: string; message: string }>((resolve) => {
      let out = { status: "", message: "" };
      const read = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) out = { status: String(h["grpc-status"]), message: String(h["grpc-message"] ?? "") };
        else if (out.status === "") out = { status: `http ${h[":status"]}`, message: "" };
      };
      req.on("response", read);
      req.on("trailers", read);
      req.on("data", () => {});
      req.on("error", () => {});
      req.on("close", () => {
        session.close();
        resolve(out);
      });
      if (options.endStream === false) req.write(Buffer.concat(envelopes));
      else req.end(Buffer.concat(envelopes));
    }),
  };
}

describe("Refusals are the same on every gRPC front end (fast path and Connect)", function () {
  this.timeout(20000);
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(() => t.close());

  const invalidUtf8 = Buffer.from([0x12, 0x02, 0xc3, 0x28, 0x1a, 0x01, 0x68, 0x20, 0x01]); // RegisterRequest{service: "\xc3(", host: "h", port: 1}
  const resolveA = Buffer.from([0x12, 0x01, 0x61]); // ResolveRequest{service: "a"}
  const cases: { what: string; path: string; messages: Buffer[]; headers?: Record<string, string>; code: Code; message: string | RegExp }[] = [
    { what: "invalid UTF-8 in a string field", path: "Register", messages: [invalidUtf8], code: Code.InvalidArgument, message: /^parse binary: / },
    { what: "bytes that are not protobuf", path: "Register", messages: [Buffer.from([0xff, 0xff, 0xff])], code: Code.InvalidArgument, message: /^parse binary: / },
    { what: "a malformed grpc-timeout", path: "Resolve", messages: [resolveA], headers: { "grpc-timeout": "soon" }, code: Code.InvalidArgument, message: "protocol error: invalid grpc timeout value: soon" },
    { what: "two messages to a unary method", path: "Resolve", messages: [resolveA, resolveA], code: Code.Unimplemented, message: "protocol error: received extra input message for unary method" },
    { what: "no message to a unary method", path: "Resolve", messages: [], code: Code.Unimplemented, message: "protocol error: missing input message for unary method" },
    { what: "two messages to a server-streaming method", path: "Watch", messages: [resolveA, resolveA], code: Code.Unimplemented, message: "protocol error: received extra input message for server-streaming method" },
    { what: "a field that breaks the rules (1.2)", path: "Register", messages: [Buffer.from(toBinary(RegisterRequestSchema, create(RegisterRequestSchema, { host: "h", port: 1 })))], code: Code.InvalidArgument, message: "service: is required" },
  ];
  for (const c of cases) {
    it(`answers ${c.what} with ${Code[c.code]} and one message, identity or compressed`, async () => {
      const path = `/roster.v1.RegistryService/${c.path}`;
      const fast = await rawGrpc(t.url, path, c.messages, { ...(c.headers ? { headers: c.headers } : {}) }).outcome;
      const viaConnect = await rawGrpc(t.url, path, c.messages, { gzip: true, ...(c.headers ? { headers: c.headers } : {}) }).outcome;
      assert.deepEqual(viaConnect, fast, "fast path and Connect answer alike");
      assert.equal(fast.status, String(c.code));
      // The gRPC spec's percent-encoding leaves printable ASCII as it is.
      if (typeof c.message === "string") assert.equal(fast.message, c.message);
      else assert.match(fast.message, c.message);
    });
  }

  it("answers undecodable messages in a request stream with INVALID_ARGUMENT through the Connect protocol and gRPC-Web too", async () => {
    const garbage = Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    for (const [type, read] of [
      ["application/connect+proto", (body: Buffer) => (JSON.parse(body.subarray(5).toString()) as { error: { code: string } }).error.code],
      ["application/grpc-web+proto", (body: Buffer) => /grpc-status: ?(\d+)/.exec(body.subarray(5).toString())![1]!],
    ] as const) {
      const session = http2.connect(t.url);
      const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Heartbeat", "content-type": type });
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      await new Promise((r) => req.on("close", r).end(garbage));
      session.close();
      assert.equal(read(Buffer.concat(chunks)), type.includes("connect") ? "invalid_argument" : String(Code.InvalidArgument), type);
    }
  });

  it("answers an unknown method or service with UNIMPLEMENTED in the caller's own protocol, on every protocol", async () => {
    for (const frontEnd of frontEnds) {
      const body = frontEnd === "connect-json" ? Buffer.from("{}") : Buffer.alloc(0);
      assert.deepEqual(await rawUnary(frontEnd, t.url, "Nope", body), { code: Code.Unimplemented, message: "method Nope of roster.v1.RegistryService is not implemented" }, frontEnd);
      assert.deepEqual(await rawUnary(frontEnd, t.url, "/foo.v1.Bar/Baz", body), { code: Code.Unimplemented, message: "service foo.v1.Bar is not served here" }, frontEnd);
    }
    const c = new grpc.Client(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      c.makeUnaryRequest("/roster.v1.RegistryService/Nope", (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e)),
    );
    c.close();
    assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
    assert.equal(err?.details, "method Nope of roster.v1.RegistryService is not implemented");
    // A request in no RPC protocol is not an RPC: plain HTTP 404.
    const plain = await new Promise<number>((resolve) => {
      const s = http2.connect(t.url);
      const r = s.request({ ":path": "/nope" });
      r.on("response", (h) => {
        resolve(Number(h[":status"]));
        s.destroy();
      });
      r.end();
    });
    assert.equal(plain, 404);
  });
});

describe("gRPC answered by Connect: conformResponse is the one rewrite of its status", function () {
  this.timeout(20000);
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(() => t.close());

  /** The gRPC status fields after `conformResponse`, for a Connect answer with no message, only a trailer (how a trailers-only refusal leaves Connect's handler). */
  async function conformedTrailer(fields: Record<string, string>): Promise<Record<string, string>> {
    const res = await conformResponse({ status: 200, header: new Headers({ "content-type": "application/grpc+proto" }), body: createAsyncIterable<Uint8Array>([]), trailer: new Headers(fields) });
    for await (const _ of res.body as AsyncIterable<Uint8Array>);
    return Object.fromEntries(res.trailer!.entries());
  }

  it("rewrites a trailers-only answer's status to the spec's encoding, and Connect's INTERNAL for undecodable input to INVALID_ARGUMENT", async () => {
    assert.deepEqual(await conformedTrailer({ "grpc-status": "3", "grpc-message": encodeURIComponent("service: is required") }), { "grpc-status": "3", "grpc-message": "service: is required" });
    assert.deepEqual(await conformedTrailer({ "grpc-status": "13", "grpc-message": encodeURIComponent("parse binary: premature EOF") }), { "grpc-status": "3", "grpc-message": "parse binary: premature EOF" });
    assert.deepEqual(await conformedTrailer({ "grpc-status": "13", "grpc-message": "internal error" }), { "grpc-status": "13", "grpc-message": "internal error" });
    assert.deepEqual(await conformedTrailer({ "grpc-status": "0" }), { "grpc-status": "0" });
    assert.deepEqual(await conformedTrailer({ "grpc-status": "2", "grpc-message": "%E0%A4%A" }), { "grpc-status": "2", "grpc-message": "%E0%A4%A" }, "left alone when it is not Connect's encoding");
  });

  it("every gRPC refusal Connect serves (compressed requests, the health service) ends in trailers, conformed: nothing is left for the headers", async () => {
    const cases: { path: string; message: Buffer; headers?: Record<string, string>; gzip: boolean; status: string; text: string }[] = [
      { path: "/roster.v1.RegistryService/Register", message: Buffer.from([0xff, 0xff, 0xff]), gzip: true, status: "3", text: "parse binary: premature EOF" },
      { path: "/roster.v1.RegistryService/Resolve", message: Buffer.from([0x12, 0x01, 0x61]), headers: { "grpc-timeout": "soon" }, gzip: true, status: "3", text: "protocol error: invalid grpc timeout value: soon" },
      { path: "/grpc.health.v1.Health/Check", message: Buffer.from([0xff, 0xff]), gzip: false, status: "3", text: "parse binary: premature EOF" },
      { path: "/grpc.health.v1.Health/Check", message: Buffer.from([0x0a, 0x03, 0x61, 0x2f, 0x62]), gzip: false, status: "5", text: 'health of service "a/b" not found' },
    ];
    for (const c of cases) {
      const body = c.gzip ? gzipSync(c.message) : c.message;
      const head = Buffer.alloc(5);
      head[0] = c.gzip ? 1 : 0;
      head.writeUInt32BE(body.length, 1);
      const session = http2.connect(t.url);
      const req = session.request({ ":method": "POST", ":path": c.path, "content-type": "application/grpc", te: "trailers", ...(c.gzip ? { "grpc-encoding": "gzip" } : {}), ...c.headers });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (headers = h));
      req.on("trailers", (h) => (trailers = h));
      req.on("data", () => {});
      await new Promise((r) => req.on("close", r).end(Buffer.concat([head, body])));
      session.close();
      const what = `${c.path} ${c.text}`;
      assert.equal(headers["grpc-status"], undefined, `${what}: the status is not in the headers (not trailers-only)`);
      // The raw field: the spec's encoding leaves printable ASCII (":", "/", '"') as it is.
      assert.deepEqual({ status: trailers["grpc-status"], message: trailers["grpc-message"] }, { status: c.status, message: c.text }, what);
    }
  });
});

describe("Request size limits (fast path)", function () {
  this.timeout(20000);
  let t: TestServer;
  const MiB = 1024 * 1024;
  before(async () => (t = await startTestServer({ limits: { maxMessageBytes: MiB, maxBufferedRequestBytesPerConnection: 2 * MiB } })));
  after(() => t.close());

  it("refuses an oversized message with RESOURCE_EXHAUSTED naming the limit as soon as its length prefix arrives", async () => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(5 * MiB, 1);
    const session = http2.connect(t.url);
    const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Register", "content-type": "application/grpc", te: "trailers" });
    req.write(head); // and nothing more: the refusal cannot wait for the body
    const h = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("response", resolve));
    session.destroy();
    assert.equal(h["grpc-status"], String(Code.ResourceExhausted));
    assert.match(String(h["grpc-message"]), /max-message-bytes=1048576/);
  });

  it("refuses streams past max-buffered-request-bytes-per-connection when 64 streams each hold part of a large message", async () => {
    const session = http2.connect(t.url);
    const part = Buffer.alloc(512 * 1024, 1);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(MiB - 16, 1);
    const outcomes: Promise<string>[] = [];
    for (let i = 0; i < 64; i++) {
      const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Register", "content-type": "application/grpc", te: "trailers" });
      req.on("error", () => {});
      req.write(Buffer.concat([head, part]));
      outcomes.push(
        new Promise<string>((resolve) => {
          req.once("response", (h) => resolve(`${h["grpc-status"]} ${h["grpc-message"]}`));
          req.once("close", () => resolve(`closed rst=${req.rstCode}`));
        }),
      );
      // One at a time, as a slow client would open them: each stream's part arrives before the next opens.
      await Promise.race([outcomes[i], sleep(30)]);
    }
    const settled = await Promise.all(outcomes.map((o) => Promise.race([o, sleep(2000).then(() => "open")])));
    // 2 MiB hold four half messages. Every other stream is refused: by the cap, naming it, or by Node's
    // own per-session memory guard (RST_STREAM ENHANCE_YOUR_CALM, which clients read as RESOURCE_EXHAUSTED).
    const ours = settled.filter((o) => o.startsWith(`${Code.ResourceExhausted} limit max-buffered-request-bytes-per-connection=2097152 reached`));
    const node = settled.filter((o) => o === `closed rst=${http2.constants.NGHTTP2_ENHANCE_YOUR_CALM}`);
    const open = settled.filter((o) => o === "open");
    assert.ok(open.length <= 4, `${open.length} streams hold data`);
    assert.ok(ours.length > 0, "the cap refused some");
    assert.equal(ours.length + node.length + open.length, 64, settled.join("\n"));
    session.destroy();
    // Another connection is unaffected, and the first's bytes were given back.
    await t.client.register({ service: "after-flood", host: "h", port: 1 });
  });
});

describe("Resolve encoding", () => {
  it("splices cached instance encodings into exactly what the message encoder gives, and builds the same message when read", async () => {
    const { ResolveResponseSchema } = await import("../gen/roster/v1/registry_pb.js");
    const { encodeMessage, instanceToProto, resolveResponse } = await import("../src/server/convert.js");
    const { InstanceStatus: S } = await import("../src/core/types.js");
    const base = { namespace: "default", service: "enc", host: "10.0.0.1", port: 80, status: S.HEALTHY, weight: 1, zone: "z", ttlMs: 1500, createRevision: 3n, modRevision: 9n, registeredAt: 1_700_000_000_123, lastHeartbeatAt: 1_700_000_001_456, load: 4, reportedStatus: S.HEALTHY, checks: [], health: [] };
    const records: import("../src/core/types.js").InstanceRecord[] = [
      { ...base, id: "a", tags: ["x", "y"], metadata: { version: "2", "ünï": "cödé" } },
      { ...base, id: "b", tags: [], metadata: {}, ttlMs: 0, load: 0 },
    ];
    for (const [revision, stale] of [[0n, false], [12n, false], [2n ** 60n, true]] as const) {
      const reference = create(ResolveResponseSchema, { instances: records.map(instanceToProto), revision, stale });
      const lazy = resolveResponse(records, revision, stale);
      assert.deepEqual(Buffer.from(encodeMessage(ResolveResponseSchema, lazy)), Buffer.from(toBinary(ResolveResponseSchema, reference)));
      assert.deepEqual(Buffer.from(toBinary(ResolveResponseSchema, lazy)), Buffer.from(toBinary(ResolveResponseSchema, reference)), "what Connect encodes");
      assert.deepEqual(lazy.instances, reference.instances);
    }
  });
});
