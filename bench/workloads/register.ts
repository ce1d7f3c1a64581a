import { pool, throughput, window } from "../measure.ts";
import type { Workload } from "../workload.ts";

/** Workload 1: registrations over many services, a fixed number in flight. */
export const register: Workload = {
  name: "register",
  streamChannels: () => 1,
  async run({ target, server, scale }) {
    const { instances, services, inFlight } = scale.register;
    const latencies: number[] = [];
    const w = window(server.pids);
    await pool(instances, inFlight, async (i) => {
      const t0 = performance.now();
      await target.register(`svc-${i % services}`, `inst-${i}`, 60);
      latencies.push(performance.now() - t0);
    });
    return throughput(instances, latencies, w.end());
  },
};
