import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { startTestServer, type TestServer } from "./helpers/server.js";

describe("REST paths (GET /v1/services...)", function () {
  this.timeout(20000);
  let t: TestServer;
  let h1: string;
  before(async () => {
    t = await startTestServer({ http1Port: -1 });
    h1 = `http://127.0.0.1:${t.server.http1Port}`;
    await t.client.register({ service: "shop", id: "a", host: "10.0.0.1", port: 80, tags: ["v2"], metadata: { version: "2" }, zone: "eu-1" });
    await t.client.register({ service: "shop", id: "b", host: "10.0.0.2", port: 80, tags: ["v1"], metadata: { version: "1" }, zone: "eu-2" });
    await t.client.register({ service: "shop", id: "c", host: "10.0.0.3", port: 80, status: 4 }); // STOPPING
    await t.client.register({ namespace: "prod", service: "other", id: "x", host: "10.0.1.1", port: 81 });
  });
  after(() => t.close());

  const get = async (path: string, base = h1) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get("content-type"), json: (await res.json()) as Record<string, unknown> };
  };

  it("GET /v1/services lists services with counts, every field present, per namespace", async () => {
    const r = await get("/v1/services");
    assert.equal(r.status, 200);
    assert.equal(r.type, "application/json");
    assert.deepEqual(Object.keys(r.json).sort(), ["revision", "services", "stale"]);
    assert.deepEqual(r.json.services, [{ name: "shop", instances: 3, healthy: 2, starting: 0, unhealthy: 0, stopping: 1, unknown: 0 }]);
    assert.deepEqual((await get("/v1/services?namespace=prod")).json.services, [{ name: "other", instances: 1, healthy: 1, starting: 0, unhealthy: 0, stopping: 0, unknown: 0 }]);
  });

  it("GET /v1/services/{name} lists instances with Resolve's filters as query parameters", async () => {
    const ids = async (q: string) => ((await get(`/v1/services/shop${q}`)).json.instances as { id: string }[]).map((i) => i.id).sort();
    assert.deepEqual(await ids(""), ["a", "b"]);
    assert.deepEqual(await ids("?all_statuses=true"), ["a", "b", "c"]);
    assert.deepEqual(await ids("?tag=v2"), ["a"]);
    assert.deepEqual(await ids("?meta=version=1"), ["b"]);
    assert.deepEqual(await ids("?zone=eu-2"), ["b"]);
    assert.deepEqual(await ids("?tag=v2&meta=version=1"), []);
    const one = (await get("/v1/services/shop?tag=v2")).json.instances as Record<string, unknown>[];
    assert.equal(one[0]!.host, "10.0.0.1");
    assert.equal(one[0]!.load, 0, "zero values present");
    assert.deepEqual((await get("/v1/services/nobody")).json.instances, []);
  });

  it("GET /v1/services/{name}/pick picks one by strategy, with or without the enum prefix", async () => {
    for (const strategy of ["round_robin", "RANDOM", "STRATEGY_WEIGHTED", "least_loaded"]) {
      const r = await get(`/v1/services/shop/pick?strategy=${strategy}&prefer_zone=eu-2`);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal((r.json.instance as { id: string }).id, "b", strategy);
      assert.deepEqual(Object.keys(r.json).sort(), ["instance", "revision", "stale"]);
    }
  });

  it("answers refusals as JSON with Connect's HTTP status and the field named", async () => {
    const cases: [string, number, string, RegExp][] = [
      ["/v1/services/nobody/pick?strategy=random", 404, "not_found", /^no instance of service default\/nobody matches$/],
      ["/v1/services/shop/pick", 400, "invalid_argument", /^strategy: is required/],
      ["/v1/services/shop/pick?strategy=fastest", 400, "invalid_argument", /^strategy: unknown value "fastest"/],
      ["/v1/services/shop?tags=v2", 400, "invalid_argument", /^tags: unknown query parameter/],
      ["/v1/services/shop?all_statuses=yes", 400, "invalid_argument", /^all_statuses: expected true or false/],
      ["/v1/services/Bad_Name", 400, "invalid_argument", /^service: /],
    ];
    for (const [path, status, code, message] of cases) {
      const r = await get(path);
      assert.equal(r.status, status, path);
      assert.equal(r.json.code, code, path);
      assert.match(String(r.json.message), message, path);
    }
    const post = await fetch(`${h1}/v1/services`, { method: "POST", body: "{}" });
    assert.equal(post.status, 405);
  });

  it("serves the same on the HTTP/2 listener", async () => {
    const s = http2.connect(t.url);
    const body = await new Promise<string>((resolve) => {
      const r = s.request({ ":path": "/v1/services/shop?tag=v1" });
      let text = "";
      r.on("data", (c: Buffer) => (text += c.toString()));
      r.on("end", () => resolve(text));
      r.end();
    });
    s.close();
    assert.deepEqual((JSON.parse(body) as { instances: { id: string }[] }).instances.map((i) => i.id), ["b"]);
  });
});
