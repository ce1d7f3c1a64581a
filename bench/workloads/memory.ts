import { pool, sleep } from "../measure.ts";
import { sampleProcs } from "../servers.ts";
import type { Workload } from "../workload.ts";
import { openWatchers } from "./fanout.ts";

/**
 * Workload 6: server RSS growth per idle watch stream, then per registered
 * instance (with a lease, 100 instances per service), on a fresh server.
 * RSS includes garbage not yet collected, so these are upper bounds.
 */
export const memory: Workload = {
  name: "memory",
  streamChannels: (scale) => Math.max(2, Math.ceil(scale.memory.watchers / 2_500)),
  async run({ target, server, scale, log }) {
    const { instances, watchers } = scale.memory;
    await sleep(scale.settleMs);
    const rss0 = sampleProcs(server.pids).rss;
    const open = await openWatchers(target, "idle", watchers, () => {});
    await sleep(scale.settleMs);
    const rss1 = sampleProcs(server.pids).rss;
    let done = 0;
    await pool(instances, 256, async (i) => {
      await target.register(`mem-${Math.floor(i / 100)}`, `inst-${i}`, 3_600);
      if (++done % 20_000 === 0) log(`  ${done} instances registered`);
    });
    await sleep(scale.settleMs);
    const rss2 = sampleProcs(server.pids).rss;
    const present = await target.count();
    for (const w of open) w.close();
    return {
      watchers,
      instances: present,
      baseRssMiB: rss0 / 2 ** 20,
      finalRssMiB: rss2 / 2 ** 20,
      bytesPerWatch: (rss1 - rss0) / watchers,
      bytesPerInstance: (rss2 - rss1) / present,
    };
  },
};
