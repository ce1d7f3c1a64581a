import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { startTestServer, type TestServer } from "./helpers/server.js";

// Strings a hostile client would try: empty, huge, unicode, control characters, near-valid names.
const nasty = fc.oneof(
  fc.constantFrom("", "default", "echo", "a.b-c", "-x", "x-", "UPPER", "with space", "\u0000", "é", "💥", "a".repeat(254), "x".repeat(100_000)),
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}[a-z0-9]$/),
);
const u32 = fc.oneof(fc.constantFrom(0, 1, 80, 65535, 65536, 4294967295), fc.nat({ max: 4294967295 }));
const duration = fc.option(fc.record({ seconds: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }), nanos: fc.integer({ min: -2e9, max: 2e9 }) }), { nil: undefined });
const stringMap = fc.dictionary(nasty, nasty, { maxKeys: 80 });
const filter = fc.option(fc.record({ tags: fc.array(nasty, { maxLength: 40 }), metadata: stringMap, zone: nasty }), { nil: undefined });
const enumValue = fc.integer({ min: -5, max: 12 });

const registerReq = fc.record({
  namespace: nasty,
  service: nasty,
  id: nasty,
  host: nasty,
  port: u32,
  status: enumValue,
  tags: fc.array(nasty, { maxLength: 40 }),
  metadata: stringMap,
  weight: u32,
  zone: nasty,
  ttl: duration,
});

const allowed = {
  register: [Code.InvalidArgument, Code.ResourceExhausted],
  deregister: [Code.InvalidArgument, Code.NotFound],
  resolve: [Code.InvalidArgument, Code.NotFound, Code.Unavailable, Code.ResourceExhausted],
  listServices: [Code.InvalidArgument],
  heartbeat: [Code.InvalidArgument, Code.NotFound],
  watch: [Code.InvalidArgument, Code.ResourceExhausted],
};

async function outcome(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

function expectAllowed(rpc: keyof typeof allowed, got: Code | "ok"): void {
  assert.ok(got === "ok" || allowed[rpc].includes(got), `${rpc} answered ${got === "ok" ? "OK" : Code[got]}`);
}

describe("Hostile input (property-based)", function () {
  this.timeout(120_000);
  let t: TestServer;
  before(async () => (t = await startTestServer({ limits: { maxInstances: 200 } })));
  after(() => t.close());

  it("every RPC answers OK or a clear client error for random requests, and the server keeps serving", async () => {
    await fc.assert(
      fc.asyncProperty(
        registerReq,
        fc.record({ namespace: nasty, service: nasty, id: nasty }),
        fc.record({ namespace: nasty, service: nasty, filter, allStatuses: fc.boolean(), strategy: enumValue, preferZone: nasty }),
        fc.array(fc.record({ namespace: nasty, service: nasty, id: nasty, status: enumValue, load: fc.option(u32, { nil: undefined }) }), { minLength: 0, maxLength: 3 }),
        fc.record({ namespace: nasty, service: nasty, filter, startRevision: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
        async (reg, key, res, beats, watch) => {
          expectAllowed("register", await outcome(t.client.register(reg)));
          expectAllowed("deregister", await outcome(t.client.deregister(key)));
          expectAllowed("resolve", await outcome(t.client.resolve(res)));
          expectAllowed("listServices", await outcome(t.client.listServices({ namespace: res.namespace })));
          expectAllowed(
            "heartbeat",
            await outcome(
              t.client.heartbeat((async function* () {
                yield* beats;
              })()),
            ),
          );
          const ac = new AbortController();
          const w = (async () => {
            for await (const ev of t.client.watch(watch, { signal: ac.signal })) {
              if (ev.type !== 0) ac.abort(); // one event is enough: the stream opened fine
            }
          })();
          const timer = setTimeout(() => ac.abort(), 300);
          const got = await outcome(w);
          clearTimeout(timer);
          if (got !== Code.Canceled) expectAllowed("watch", got);
        },
      ),
      { numRuns: 150 },
    );
    const status = await t.client.getStatus({});
    assert.ok(status.revision >= 0n);
    assert.equal((await t.client.resolve({ service: "after-fuzz" })).instances.length, 0);
  });

  it("answers malformed protobuf with a clear error and keeps serving", async () => {
    for (const garbage of [Buffer.from([0xff, 0xff, 0xff]), Buffer.from("not protobuf at all"), Buffer.alloc(0)]) {
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(garbage.length, 1);
      const status = await new Promise<string>((resolve, reject) => {
        const session = http2.connect(t.url);
        const req = session.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Register", "content-type": "application/grpc", te: "trailers" });
        let s = "";
        req.on("response", (h) => (s = String(h["grpc-status"] ?? s)));
        req.on("trailers", (h) => (s = String(h["grpc-status"] ?? s)));
        req.on("data", () => {});
        req.on("close", () => {
          session.close();
          resolve(s);
        });
        req.on("error", reject);
        req.end(Buffer.concat([frame, garbage]));
      });
      // Undecodable bytes are INVALID_ARGUMENT; empty bytes decode to an empty request (a valid protobuf), refused by validation.
      assert.equal(status, String(Code.InvalidArgument), `grpc-status ${status}`);
    }
    assert.ok((await t.client.getStatus({})).revision >= 0n);
  });
});
