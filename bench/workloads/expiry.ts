import { percentile, pool, sleep } from "../measure.ts";
import type { Workload } from "../workload.ts";

/**
 * Workload 5: instances with a short TTL beat, then stop one after another
 * (staggered over one TTL); each one's latency is from its last beat sent to
 * its removal event arriving at a watcher of the service. Every instance of
 * the service stops, so the Roster server runs with expiry protection off
 * (--expiry-protection-threshold 1).
 */
export const expiry: Workload = {
  name: "expiry",
  streamChannels: () => 2,
  async run({ target, scale }) {
    const { instances, ttlSec, beatMs } = scale.expiry;
    const removedAt = new Map<string, number>();
    let allRemoved: () => void = () => {};
    let ready: () => void = () => {};
    const isReady = new Promise<void>((resolve, reject) => {
      ready = resolve;
      setTimeout(() => reject(new Error("watcher not ready after 30 s")), 30_000).unref();
    });
    const watcher = target.watch("expiry", {
      onReady: () => ready(),
      onRemoved: (id) => {
        if (!removedAt.has(id)) removedAt.set(id, performance.now());
        if (removedAt.size === instances) allRemoved();
      },
    });
    await isReady;
    const lastBeat: number[] = [];
    const timers: NodeJS.Timeout[] = [];
    const beaters: { close(): void }[] = [];
    await pool(instances, 32, async (i) => {
      const reg = await target.register("expiry", `inst-${i}`, ttlSec);
      const b = target.beater(reg, { onLost: () => {} });
      beaters.push(b);
      const beat = () => {
        b.beat();
        lastBeat[i] = performance.now();
      };
      beat();
      timers[i] = setInterval(beat, beatMs);
    });
    await sleep(scale.settleMs + 1_000);
    const done = new Promise<void>((r) => (allRemoved = r));
    for (let i = 0; i < instances; i++) {
      setTimeout(() => clearInterval(timers[i]), (i * ttlSec * 1000) / instances);
    }
    const timeout = sleep(ttlSec * 1000 + 15_000);
    await Promise.race([done, timeout]);
    watcher.close();
    for (const b of beaters) b.close();
    const latencies: number[] = [];
    for (let i = 0; i < instances; i++) {
      const at = removedAt.get(`inst-${i}`);
      if (at !== undefined) latencies.push(at - lastBeat[i]!);
    }
    return {
      instances,
      ttlMs: ttlSec * 1000,
      removed: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
    };
  },
};
