import type { Target } from "../clients.ts";
import { percentile, sleep, window } from "../measure.ts";
import type { Workload } from "../workload.ts";

/** Opens `n` watchers on `service` in batches of 500; resolves when all are established. */
export async function openWatchers(
  target: Target,
  service: string,
  n: number,
  onAdded: (id: string) => void,
): Promise<{ close(): void }[]> {
  const watchers: { close(): void }[] = [];
  const batch = 500;
  for (let from = 0; from < n; from += batch) {
    const size = Math.min(batch, n - from);
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      const timer = setTimeout(() => reject(new Error(`only ${ready} of ${size} watchers ready after 30 s`)), 30_000);
      for (let i = 0; i < size; i++) {
        watchers.push(
          target.watch(service, {
            onReady: () => {
              if (++ready === size) {
                clearTimeout(timer);
                resolve();
              }
            },
            onAdded,
            onError: (err) => reject(err),
          }),
        );
      }
    });
  }
  return watchers;
}

/**
 * Workload 4: N watchers on one service; one register lands; time from
 * sending the Register until the last watcher has the ADDED (etcd: PUT) event.
 */
export const fanout: Workload = {
  name: "fanout",
  streamChannels: (scale) => Math.max(4, Math.ceil(Math.max(...scale.fanout.sizes) / 2_500)),
  async run({ target, server, scale, log }) {
    const out: Record<string, number> = {};
    for (const n of scale.fanout.sizes) {
      const service = `fanout-${n}`;
      let expect = "";
      let seen = 0;
      let allSeen: () => void = () => {};
      const watchers = await openWatchers(target, service, n, (id) => {
        if (id === expect && ++seen === n) allSeen();
      });
      await sleep(scale.settleMs);
      const times: number[] = [];
      const w = window(server.pids);
      for (let rep = 0; rep < scale.fanout.reps; rep++) {
        expect = `rep-${rep}`;
        seen = 0;
        const done = new Promise<void>((resolve, reject) => {
          allSeen = resolve;
          setTimeout(() => reject(new Error(`rep ${rep}: ${seen} of ${n} watchers saw the event after 30 s`)), 30_000).unref();
        });
        const t0 = performance.now();
        await target.register(service, expect, 300);
        await done;
        times.push(performance.now() - t0);
        await sleep(100);
      }
      const u = w.end();
      for (const x of watchers) x.close();
      const events = n * scale.fanout.reps;
      // The window includes the 100 ms pauses; CPU per event is what counts.
      out[`${n}.p50Ms`] = percentile(times, 50);
      out[`${n}.p99Ms`] = percentile(times, 99);
      out[`${n}.maxMs`] = Math.max(...times);
      out[`${n}.cpuUsPerEvent`] = (u.serverCpuMs * 1000) / events;
      out[`${n}.generatorCores`] = u.generatorCores;
      // One generator thread decodes all n copies: its cost bounds the latency measured.
      out[`${n}.generatorUsPerEvent`] = (u.generatorCores * u.wallMs * 1000) / events;
      out[`${n}.serverCores`] = u.serverCores;
      log(`  ${n} watchers: p50 ${out[`${n}.p50Ms`]!.toFixed(1)} ms, p99 ${out[`${n}.p99Ms`]!.toFixed(1)} ms, ${out[`${n}.cpuUsPerEvent`]!.toFixed(2)} µs/event`);
      await sleep(scale.settleMs);
    }
    return out;
  },
};
