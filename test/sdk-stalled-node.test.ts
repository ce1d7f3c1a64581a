import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { Registrar, ServiceCache, keepaliveFor } from "../src/sdk/index.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { freePort, sleep, startTestServer, until, type TestServer } from "./helpers/server.js";
import { collectWatch } from "./helpers/watch.js";

// The scenario scales by environment to reproduce issue 8's row (TTL 10 s, ~100 instances, a 20 s stall); the defaults keep CI quick.
const ttlMs = Number(process.env.ROSTER_STALL_TTL_MS ?? 3000);
const instances = Number(process.env.ROSTER_STALL_INSTANCES ?? 20);
const stallMs = Number(process.env.ROSTER_STALL_MS ?? 2 * ttlMs);

/** A `roster serve` process on Redis, so the test can SIGSTOP it: its kernel keeps accepting bytes while nothing answers. */
async function serveInChild(redisUrl: string, prefix: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const bin = fileURLToPath(new URL("../bin/roster.js", import.meta.url));
  const flags = { port, store: redisUrl, "redis-prefix": prefix, "min-ttl-ms": 200, "sweep-interval-ms": 50, "expiry-protection-threshold": 1, "log-level": "info" };
  const child = spawn(process.execPath, [bin, "serve", ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)])], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  for (const s of [child.stdout!, child.stderr!]) s.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  await until("the child node to listen", () => output.includes(`"url":"${url}"`) || child.exitCode !== null, 20_000);
  assert.equal(child.exitCode, null, output);
  return { url, child };
}

describe("SDK on a stalled registry node (SEMANTICS 2.2)", function () {
  this.timeout(60_000 + 3 * stallMs);
  let redis: TestRedis;
  let stalled: { url: string; child: ChildProcess };
  let healthy: TestServer;
  let run = 0;

  before(async () => {
    redis = await startRedis();
  });
  beforeEach(async () => {
    const prefix = `stall-${++run}`;
    stalled = await serveInChild(redis.url, prefix);
    // expiry-protection-threshold 1 turns protection off, so a lapsed lease shows up as a removal instead of being held.
    healthy = await startTestServer({ store: redis.url, redisPrefix: prefix, limits: { minTtlMs: 200 }, timing: { sweepIntervalMs: 50, expiryProtectionThreshold: 1 } });
  });
  afterEach(async () => {
    stalled.child.kill("SIGCONT");
    stalled.child.kill("SIGKILL");
    await healthy.close();
  });
  after(async () => {
    await redis?.close();
  });

  it("2.2 a Registrar leaves a SIGSTOPped node within TTL/2 and its beats resume on the next one: no instance expires", async () => {
    const registrar = new Registrar({ registry: [stalled.url, healthy.url], backoff: { initialMs: 50, maxMs: 500 } });
    const onHealthy = collectWatch(healthy.client, { service: "stall" });
    try {
      await onHealthy.waitFor(1);
      await Promise.all(Array.from({ length: instances }, (_, i) => registrar.register({ service: "stall", id: `s${i}`, host: "10.0.0.1", port: i + 1, ttlMs })));
      assert.equal((await healthy.client.resolve({ service: "stall" })).instances.length, instances);
      await sleep(ttlMs / 2);
      const movedAt: number[] = [];
      registrar.on("reconnecting", (_r, info) => {
        if (info.registry === stalled.url) movedAt.push(Date.now() + info.delayMs);
      });
      stalled.child.kill("SIGSTOP");
      const stoppedAt = Date.now();
      await until("every registration to leave the stalled node", () => movedAt.length >= instances, ttlMs);
      const worst = Math.max(...movedAt) - stoppedAt;
      console.log(`      left the stalled node after ${worst} ms at worst (TTL ${ttlMs} ms, keepalive ${JSON.stringify(keepaliveFor(ttlMs))})`);
      assert.ok(worst < ttlMs / 2, `beats resumed elsewhere ${worst} ms after the stall, want < TTL/2 = ${ttlMs / 2} ms`);
      await sleep(stallMs);
      const expired = onHealthy.events.filter((e) => e.type === WatchEventType.REMOVED).length;
      console.log(`      ${expired} of ${instances} instances expired during a ${stallMs} ms stall`);
      assert.equal(expired, 0, "no lease may lapse because one node stalled");
      assert.equal((await healthy.client.resolve({ service: "stall" })).instances.length, instances);
    } finally {
      await registrar.close();
      await onHealthy.stop();
    }
  });

  it("4.4 a ServiceCache's watch leaves a SIGSTOPped node and sees changes made on the next one", async () => {
    const idleMs = 1500;
    const cache = new ServiceCache({ registry: [stalled.url, healthy.url], services: ["stall"], watchIdleTimeoutMs: idleMs, backoff: { initialMs: 50, maxMs: 500 } });
    try {
      await cache.ready();
      stalled.child.kill("SIGSTOP");
      const stoppedAt = Date.now();
      await healthy.client.register({ service: "stall", id: "after", host: "10.0.0.2", port: 1 });
      await until("the cache sees the change made on the healthy node", () => cache.instances("stall").some((i) => i.id === "after"), 2 * idleMs);
      const took = Date.now() - stoppedAt;
      console.log(`      the watch moved in ${took} ms (idle deadline ${idleMs} ms)`);
      assert.ok(took < idleMs + 500, `moved ${took} ms after the stall`);
    } finally {
      await cache.close();
    }
  });
});
