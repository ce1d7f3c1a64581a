/**
 * What one RedisStore sustains, measured at the store (no gRPC): registrations/s,
 * heartbeats/s, redis-server's own CPU per registration and per heartbeat
 * (what the Lua scripts cost, from INFO's used_cpu_sys + used_cpu_user), and
 * the time for a change made through one store to reach a subscriber of
 * another. Run: `npx tsx bench/redis-store-bench.ts`.
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { resolveConfig } from "../src/config.js";
import { RedisStore } from "../src/store/redis-store.js";
import { startRedis } from "../test/helpers/redis.js";
import { spec } from "../src/store/contract/index.js";

const INSTANCES = 20_000;
const CONCURRENCY = 200;
const BEAT_SECONDS = 3;

const config = resolveConfig({ limits: { maxInstancesPerService: INSTANCES * 2 } });
const redis = await startRedis();
const options = { limits: config.limits, timing: config.timing, prefix: "bench" };
const [a, b] = [await RedisStore.connect(redis.url, options), await RedisStore.connect(redis.url, options)];
const info = new Redis(redis.url);

/** redis-server's CPU so far, in µs. */
async function redisCpuUs(): Promise<number> {
  const text = await info.info("cpu");
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)![1]);
  return (field("used_cpu_sys") + field("used_cpu_user")) * 1e6;
}

/** Runs `n` calls with `CONCURRENCY` in flight, as many clients would. */
async function pool(n: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await call(next++);
  }));
}

try {
  let t = performance.now();
  let cpu = await redisCpuUs();
  await pool(INSTANCES, (i) => a.register(spec({ id: `i${i}`, ttlMs: 60_000 })));
  const regs = INSTANCES / ((performance.now() - t) / 1000);
  const regCpu = ((await redisCpuUs()) - cpu) / INSTANCES;

  let beats = 0;
  t = performance.now();
  cpu = await redisCpuUs();
  const end = t + BEAT_SECONDS * 1000;
  await Promise.all(Array.from({ length: 2000 }, async (_, w) => {
    for (let i = w; performance.now() < end; i += 2000) {
      await a.heartbeat(spec({ id: `i${i % INSTANCES}` }), { load: i % 10 });
      beats++;
    }
  }));
  const beatRate = beats / ((performance.now() - t) / 1000);
  const beatCpu = ((await redisCpuUs()) - cpu) / beats;

  const latencies: number[] = [];
  for (let i = 0; i < 200; i++) {
    const id = `lat${i}`;
    const seen = new Promise<number>((resolve) => {
      const off = b.subscribe((c) => {
        if (c.kind === "put" && c.instance.id === id) {
          off();
          resolve(performance.now());
        }
      });
    });
    const start = performance.now();
    await a.register(spec({ id, service: "latency" }));
    latencies.push((await seen) - start);
  }
  latencies.sort((x, y) => x - y);
  const pct = (p: number) => latencies[Math.floor((latencies.length - 1) * p)]!.toFixed(2);

  console.log(`registrations/s (one store, ${CONCURRENCY} in flight): ${regs.toFixed(0)}`);
  console.log(`redis-server CPU per registration, µs: ${regCpu.toFixed(1)}`);
  console.log(`heartbeats/s (one store, 2000 in flight, load-only): ${beatRate.toFixed(0)}`);
  console.log(`redis-server CPU per heartbeat, µs: ${beatCpu.toFixed(1)}`);
  console.log(`change via store A -> subscriber of store B, ms: p50 ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}`);
} finally {
  info.disconnect();
  await Promise.all([a.close(), b.close()]);
  await redis.close();
}
