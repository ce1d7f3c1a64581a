import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "./helpers/server.js";

/** One Connect JSON call over plain HTTP/1.1, as curl or a script makes it. */
async function post(base: string, method: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/roster.v1.RegistryService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function refused(r: { status: number; json: Record<string, unknown> }, field: string): void {
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.equal(r.json.code, "invalid_argument");
  assert.ok(String(r.json.message).startsWith(`${field}: `), `"${r.json.message}" should name ${field}`);
}

describe("JSON is strict and complete (Connect JSON)", function () {
  this.timeout(20000);
  let t: TestServer;
  let base: string;
  before(async () => {
    t = await startTestServer({ http1Port: -1 });
    base = `http://127.0.0.1:${t.server.http1Port}`;
  });
  after(() => t.close());

  it("refuses an unknown field with INVALID_ARGUMENT naming it, at any depth", async () => {
    refused(await post(base, "Register", { service: "typo", host: "h", port: 1, tll: "10s" }), "tll");
    refused(await post(base, "Resolve", { service: "typo", filter: { tgs: ["a"] } }), "filter.tgs");
    assert.equal((await t.client.resolve({ service: "typo", allStatuses: true })).instances.length, 0, "nothing registered");
  });

  it("refuses a wrongly typed duration naming the field, and takes the proto3 string form", async () => {
    refused(await post(base, "Register", { service: "ttl", host: "h", port: 1, ttl: 30 }), "ttl");
    refused(await post(base, "Register", { service: "ttl", host: "h", port: 1, ttl: "30" }), "ttl");
    const ok = await post(base, "Register", { service: "ttl", host: "h", port: 1, ttl: "30s" });
    assert.equal(ok.status, 200);
    assert.equal((ok.json.instance as { ttl: string }).ttl, "30s");
  });

  it("refuses a wrongly typed number naming the field", async () => {
    const r = await post(base, "Register", { service: "num", host: "h", port: "eighty" });
    assert.equal(r.status, 400);
    assert.match(String(r.json.message), /RegisterRequest\.port/);
  });

  it("takes enum names with or without their prefix, in any case, and refuses unknown ones naming the field and the choices", async () => {
    for (const id of ["a", "b"]) assert.equal((await post(base, "Register", { service: "enums", id, host: "h", port: 1 })).status, 200);
    for (const strategy of ["STRATEGY_ROUND_ROBIN", "ROUND_ROBIN", "round_robin", 1]) {
      const r = await post(base, "Resolve", { service: "enums", strategy });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal((r.json.instances as unknown[]).length, 1, `${strategy} picks one`);
    }
    const bad = await post(base, "Resolve", { service: "enums", strategy: "FASTEST" });
    refused(bad, "strategy");
    assert.match(String(bad.json.message), /one of UNSPECIFIED, ROUND_ROBIN, RANDOM, WEIGHTED, LEAST_LOADED \(also with the prefix STRATEGY_\)/);
    const stopping = await post(base, "Register", { service: "enums", id: "a", host: "h", port: 1, status: "STOPPING" });
    assert.equal((stopping.json.instance as { status: string }).status, "INSTANCE_STATUS_STOPPING");
  });

  it("checks every message of a JSON stream too (Heartbeat's status)", async () => {
    await post(base, "Register", { service: "beat", id: "a", host: "h", port: 1, ttl: "30s" });
    const frame = (m: unknown) => {
      const data = Buffer.from(JSON.stringify(m));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(data.length, 1);
      return Buffer.concat([head, data]);
    };
    const beat = async (messages: unknown[]) => {
      const res = await fetch(`${base}/roster.v1.RegistryService/Heartbeat`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: Buffer.concat(messages.map(frame)) });
      const body = Buffer.from(await res.arrayBuffer());
      // The end-stream frame comes last.
      let at = 0;
      let end: Record<string, unknown> = {};
      while (at < body.length) {
        const len = body.readUInt32BE(at + 1);
        if (body[at] === 2) end = JSON.parse(body.subarray(at + 5, at + 5 + len).toString()) as Record<string, unknown>;
        at += 5 + len;
      }
      return end;
    };
    assert.deepEqual(await beat([{ service: "beat", id: "a", status: "unhealthy" }]), {});
    assert.equal((await t.client.resolve({ service: "beat", allStatuses: true })).instances[0]!.status, 3);
    const err = (await beat([{ service: "beat", id: "a" }, { stauts: "HEALTHY" }])).error as { code: string; message: string };
    assert.equal(err.code, "invalid_argument");
    assert.match(err.message, /^stauts: unknown field/);
  });

  it("emits every field, zero values included", async () => {
    const empty = await post(base, "Resolve", { service: "nothing-here" });
    assert.deepEqual(Object.keys(empty.json).sort(), ["instances", "revision", "stale"]);
    assert.deepEqual(empty.json.instances, []);
    assert.equal(empty.json.stale, false);
    await post(base, "Register", { service: "zeros", id: "z", host: "h", port: 1 });
    const again = await post(base, "Register", { service: "zeros", id: "z", host: "h", port: 1 });
    assert.equal(again.json.created, false);
    const inst = again.json.instance as Record<string, unknown>;
    assert.equal(inst.load, 0);
    assert.deepEqual(inst.tags, []);
    assert.deepEqual(inst.metadata, {});
    assert.equal(inst.zone, "");
    const list = await post(base, "ListServices", {});
    const zeros = (list.json.services as Record<string, unknown>[]).find((s) => s.name === "zeros")!;
    assert.equal(zeros.unhealthy, 0);
  });

  it("serves the read RPCs with HTTP GET (Connect GET, idempotency_level NO_SIDE_EFFECTS), checked the same way", async () => {
    const get = (method: string, message: unknown) =>
      fetch(`${base}/roster.v1.RegistryService/${method}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(message))}`);
    const ok = await get("Resolve", { service: "zeros", strategy: "random" });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { instances: unknown[] }).instances.length, 1);
    assert.equal((await get("GetStatus", {})).status, 200);
    assert.equal((await get("ListServices", {})).status, 200);
    const bad = await get("Resolve", { service: "zeros", stratgy: "random" });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /^stratgy: unknown field/);
    assert.equal((await get("Register", { service: "x", host: "h", port: 1 })).status, 405, "a write is POST only");
  });
});
