import { clockTicks, sampleProcs } from "./servers.ts";

/** What a measurement window saw of the server and the generator. */
export interface Usage {
  readonly wallMs: number;
  /** CPU time the server processes used, in milliseconds. */
  readonly serverCpuMs: number;
  /** Server CPU time divided by wall time. */
  readonly serverCores: number;
  /** This process's (the generator's) CPU time divided by wall time. */
  readonly generatorCores: number;
  /** Server RSS at the end of the window, in bytes. */
  readonly serverRss: number;
}

/** Starts measuring server and generator CPU; `end()` closes the window. */
export function window(pids: readonly number[]): { end(): Usage } {
  const s0 = sampleProcs(pids);
  const g0 = process.cpuUsage();
  return {
    end() {
      const s1 = sampleProcs(pids);
      const g = process.cpuUsage(g0);
      const wallMs = s1.at - s0.at;
      const serverCpuMs = ((s1.ticks - s0.ticks) * 1000) / clockTicks;
      return {
        wallMs,
        serverCpuMs,
        serverCores: serverCpuMs / wallMs,
        generatorCores: (g.user + g.system) / 1000 / wallMs,
        serverRss: s1.rss,
      };
    },
  };
}

/** The figures of a throughput workload: rate, latency percentiles, CPU per operation and cores. */
export function throughput(ops: number, latencies: readonly number[], u: Usage) {
  return {
    ops,
    perSec: (ops * 1000) / u.wallMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuUsPerOp: (u.serverCpuMs * 1000) / ops,
    serverCores: u.serverCores,
    generatorCores: u.generatorCores,
  };
}

/** The p-th percentile (0..100) of latencies, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Runs `op(i)` for i in [0, total) with at most `inFlight` at once. */
export async function pool(total: number, inFlight: number, op: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
}

/** Runs `op` in `concurrency` loops until `ms` have passed; returns how many completed. */
export async function loopFor(ms: number, concurrency: number, op: () => Promise<void>): Promise<number> {
  const until = performance.now() + ms;
  let done = 0;
  const worker = async () => {
    while (performance.now() < until) {
      await op();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

/** Epoch milliseconds, comparable across processes on one machine. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Times one async call in milliseconds. */
export async function timed(op: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await op();
  return performance.now() - t0;
}
