/**
 * What one RedisStore sustains, measured at the store (no gRPC): registrations/s,
 * heartbeats/s, and the time for a change made through one store to reach a
 * subscriber of another. Run: `npx tsx bench/redis-store-bench.ts`.
 */
import { performance } from "node:perf_hooks";
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

/** Runs `n` calls with `CONCURRENCY` in flight, as many clients would. */
async function pool(n: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await call(next++);
  }));
}

try {
  let t = performance.now();
  await pool(INSTANCES, (i) => a.register(spec({ id: `i${i}`, ttlMs: 60_000 })));
  const regs = INSTANCES / ((performance.now() - t) / 1000);

  let beats = 0;
  t = performance.now();
  const end = t + BEAT_SECONDS * 1000;
  await Promise.all(Array.from({ length: 2000 }, async (_, w) => {
    for (let i = w; performance.now() < end; i += 2000) {
      await a.heartbeat(spec({ id: `i${i % INSTANCES}` }), { load: i % 10 });
      beats++;
    }
  }));
  const beatRate = beats / ((performance.now() - t) / 1000);

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
  console.log(`heartbeats/s (one store, 2000 in flight, load-only): ${beatRate.toFixed(0)}`);
  console.log(`change via store A -> subscriber of store B, ms: p50 ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}`);
} finally {
  await Promise.all([a.close(), b.close()]);
  await redis.close();
}
