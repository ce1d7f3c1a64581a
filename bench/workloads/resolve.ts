import { loopFor, pool, sleep, throughput, window } from "../measure.ts";
import type { Workload } from "../workload.ts";

/** Workload 3: many concurrent callers listing one small service. */
export const resolve: Workload = {
  name: "resolve",
  streamChannels: () => 1,
  async run({ target, server, scale }) {
    const { instances, callers, ms } = scale.resolve;
    await pool(instances, instances, (i) => target.register("resolve", `inst-${i}`, 300).then(() => {}));
    const got = await target.resolve("resolve");
    if (got !== instances) throw new Error(`resolve returned ${got} instances, expected ${instances}`);
    await loopFor(500, callers, () => target.resolve("resolve").then(() => {}));
    await sleep(200);
    const latencies: number[] = [];
    const w = window(server.pids);
    const ops = await loopFor(ms, callers, async () => {
      const t0 = performance.now();
      await target.resolve("resolve");
      latencies.push(performance.now() - t0);
    });
    return throughput(ops, latencies, w.end());
  },
};
