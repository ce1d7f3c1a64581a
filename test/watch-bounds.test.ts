import { strict as assert } from "node:assert";
import * as http2 from "node:http2";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchEventType, WatchRequestSchema } from "../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../src/config.js";
import { RosterError } from "../src/errors.js";
import { WatchHub } from "../src/server/watch-hub.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { collectWatch } from "./helpers/watch.js";
import { startTestServer, until, sleep, type TestServer } from "./helpers/server.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Opens raw HTTP/2 gRPC Watch streams that never read a byte of their responses. */
function stuckWatchers(url: string, service: string, count: number, perSession = 100): { close(): void } {
  const sessions: http2.ClientHttp2Session[] = [];
  const frame = (() => {
    const body = toBinary(WatchRequestSchema, create(WatchRequestSchema, { service }));
    const f = Buffer.alloc(5 + body.length);
    f.writeUInt32BE(body.length, 1);
    Buffer.from(body).copy(f, 5);
    return f;
  })();
  for (let i = 0; i < count; i++) {
    if (i % perSession === 0) {
      const s = http2.connect(url);
      s.on("error", () => {});
      sessions.push(s);
    }
    const req = sessions.at(-1)!.request({ ":method": "POST", ":path": "/roster.v1.RegistryService/Watch", "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => {});
    req.pause(); // never read: no WINDOW_UPDATE goes back, so the server's writes stall
    req.end(frame);
  }
  return { close: () => sessions.forEach((s) => s.destroy()) };
}

async function register(t: TestServer, service: string, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, from + n - i) }, (_, k) =>
        t.client.register({ service, id: `i${i + k}`, host: "10.0.0.1", port: 8080, tags: ["a", "b"], metadata: { version: "1.2.3", zone: "z" } }),
      ),
    );
  }
}

describe("Watch bounds for clients that stop reading (SEMANTICS 4.3)", function () {
  this.timeout(60_000);
  let t: TestServer;
  afterEach(() => t?.close());

  it("4.3 the hub ends a watcher over max-watch-queue while nobody pulls it: slot freed, onEnd told, the iterator throws with the resume revision", async () => {
    const c = resolveConfig({ limits: { maxWatchQueue: 5 } });
    const store = new MemoryStore({ limits: c.limits, timing: c.timing });
    const hub = new WatchHub(store, c.limits, c.timing);
    const ended: RosterError[] = [];
    const it = hub.watch({ namespace: "default", service: "s", filter: { tags: [], metadata: {}, zone: "" }, startRevision: 0n }, new AbortController().signal, { onEnd: (e) => ended.push(e) });
    const first = await it.next(); // SNAPSHOT_COMPLETE; then the client stops reading
    assert.equal(first.value!.type, WatchEventType.SNAPSHOT_COMPLETE);
    assert.equal(hub.watchers, 1);
    for (let i = 0; i < 10; i++) await store.register({ namespace: "default", service: "s", id: `i${i}`, host: "h", port: 1, tags: [], metadata: {}, status: 2, weight: 1, zone: "", ttlMs: 0, checks: [] });
    assert.equal(hub.watchers, 0, "the slot is free before the client reads again");
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.kind, "resource_exhausted");
    // The hint never runs ahead of what the transport took: resuming from it cannot skip.
    const hint = /start_revision=(\d+)/.exec(ended[0]!.message);
    assert.ok(hint && BigInt(hint[1]!) <= first.value!.revision, ended[0]!.message);
    await assert.rejects(it.next(), (e: unknown) => e === ended[0]);
    hub.close();
    await store.close();
  });

  it("4.2 resync ends every open watch with unavailable at once, none is told nothing changed", async () => {
    const c = resolveConfig({});
    const store = new MemoryStore({ limits: c.limits, timing: c.timing });
    const hub = new WatchHub(store, c.limits, c.timing);
    const ended: RosterError[] = [];
    const its = [0, 1, 2].map(() => hub.watch({ namespace: "default", service: undefined, filter: { tags: [], metadata: {}, zone: "" }, startRevision: 0n }, new AbortController().signal, { onEnd: (e) => ended.push(e) }));
    for (const i of its) await i.next();
    hub.resync("the backend lost its data");
    assert.equal(hub.watchers, 0);
    assert.deepEqual(ended.map((e) => e.kind), ["unavailable", "unavailable", "unavailable"]);
    for (const i of its) await assert.rejects(i.next(), (e: unknown) => e instanceof RosterError && e.kind === "unavailable");
    hub.close();
    await store.close();
  });

  it("4.3 a watcher over max-watch-queue that never reads is ended at once: its slot is freed and new watchers connect", async () => {
    t = await startTestServer({ limits: { maxWatchQueue: 50, maxWatchers: 40 } });
    const stuck = stuckWatchers(t.url, "herd", 40);
    try {
      await until("40 watchers", async () => (await t.client.getStatus({})).watchers === 40);
      // Enough changes to fill each stream's flow-control window and then the queue behind it.
      await register(t, "herd", 1500);
      await until("the stuck watchers are cut off", async () => (await t.client.getStatus({})).watchers === 0, 10_000);
      const w = collectWatch(t.client, { service: "herd" });
      const events = await w.waitFor(1501, 10_000);
      assert.equal(events.at(-1)!.type, WatchEventType.SNAPSHOT_COMPLETE);
      await w.stop();
    } finally {
      stuck.close();
    }
  });

  it("4.3 500 watchers that never read a snapshot of 2,000 instances hold references, not copies", async () => {
    t = await startTestServer({ limits: { maxWatchQueue: 500 } });
    await register(t, "big", 2000);
    gc();
    const before = process.memoryUsage().heapUsed;
    const stuck = stuckWatchers(t.url, "big", 500);
    try {
      await until("500 watchers", async () => (await t.client.getStatus({})).watchers === 500, 20_000);
      await sleep(1000);
      gc();
      const grown = (process.memoryUsage().heapUsed - before) / 2 ** 20;
      console.log(`      heap growth with 500 stuck watchers: ${grown.toFixed(1)} MiB`);
      // Before snapshots were lazy this was about 600 MiB (1.2 MiB per watcher).
      assert.ok(grown < 150, `heap grew by ${grown.toFixed(1)} MiB`);
    } finally {
      stuck.close();
    }
  });
});
