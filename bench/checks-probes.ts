/**
 * Active health checks on one node (issue 14): 2,000 HTTP checks at a 1 s
 * interval against a local HTTP target. Reports the probe rate the target
 * sees, the registry node's CPU, and how evenly probes fall over time (hits
 * per 100 ms bucket, and the most in any one millisecond): a thundering herd
 * would show as a few full buckets and many empty ones.
 *
 *   npm run bench:checks                     # two runs, one JSON line each
 *   CHECKS=5000 RUNS=1 npm run bench:checks
 *   PROFILE_DIR=/tmp/prof RUNS=1 npm run bench:checks   # a V8 CPU profile of the node (bench/profile-top.ts reads it)
 *
 * The registry runs as its own `roster serve` process, so its CPU is its
 * own; the target runs in this process.
 */
import * as http from "node:http";
import { loadavg } from "node:os";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/roster/v1/registry_pb.js";
import { durationFromMs } from "../src/core/duration.js";
import { startRoster } from "./servers.ts";
import { pool, sleep, window } from "./measure.ts";

const checks = Number(process.env.CHECKS ?? 2000);
const runs = Number(process.env.RUNS ?? 2);
const intervalMs = 1000;
const warmupMs = 3000;
const measureMs = Number(process.env.MEASURE_MS ?? 10_000);

async function run(): Promise<Record<string, unknown>> {
  const hits: number[] = [];
  const target = http.createServer((_req, res) => {
    hits.push(performance.now());
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  const targetPort = (target.address() as AddressInfo).port;
  const client = (address: string) => {
    const url = `http://${address}`;
    const sessions = new Http2SessionManager(url);
    return { sessions, c: createClient(RegistryService, createGrpcTransport({ baseUrl: url, sessionManager: sessions })) };
  };
  const server = await startRoster({
    store: "memory",
    ...(process.env.PROFILE_DIR ? { cpuProfDir: process.env.PROFILE_DIR } : {}),
    probe: async (address) => {
      const { sessions, c } = client(address);
      try {
        await c.getStatus({});
        return true;
      } catch {
        return false;
      } finally {
        sessions.abort();
      }
    },
  });
  const { sessions, c } = client(server.address);
  try {
    const check = { kind: { case: "http" as const, value: { path: "/healthz" } }, interval: durationFromMs(intervalMs), timeout: durationFromMs(500) };
    const t0 = performance.now();
    await pool(checks, 32, async (i) => void (await c.register({ service: "bench", id: `i-${i}`, host: "127.0.0.1", port: targetPort, checks: [check] })));
    const registerMs = performance.now() - t0;
    // Every check has had its first, randomly phased run by now.
    await sleep(warmupMs);
    const from = performance.now();
    const first = hits.length;
    const w = window(server.pids);
    await sleep(measureMs);
    const usage = w.end();
    const to = performance.now();
    const inWindow = hits.slice(first).filter((t) => t >= from && t < to);
    const buckets = Array<number>(Math.floor((to - from) / 100)).fill(0);
    const perMs = new Map<number, number>();
    for (const t of inWindow) {
      const b = Math.floor((t - from) / 100);
      if (b < buckets.length) buckets[b]!++;
      const ms = Math.floor(t);
      perMs.set(ms, (perMs.get(ms) ?? 0) + 1);
    }
    const mean = buckets.reduce((a, b) => a + b, 0) / buckets.length;
    const sd = Math.sqrt(buckets.reduce((a, b) => a + (b - mean) ** 2, 0) / buckets.length);
    return {
      checks,
      intervalMs,
      registerMs: Math.round(registerMs),
      probesPerSecond: Math.round((inWindow.length * 1000) / (to - from)),
      expectedPerSecond: Math.round((checks * 1000) / intervalMs),
      nodeCores: Math.round(usage.serverCores * 1000) / 1000,
      nodeCpuUsPerProbe: Math.round((usage.serverCpuMs * 1000) / inWindow.length),
      nodeRssMiB: Math.round(usage.serverRss / 2 ** 20),
      per100ms: { mean: Math.round(mean * 10) / 10, min: Math.min(...buckets), max: Math.max(...buckets), cv: Math.round((sd / mean) * 1000) / 1000 },
      maxInOneMs: Math.max(...perMs.values()),
      // Other work on the machine stalls both processes and shows as uneven buckets: read the spread with this.
      loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    };
  } finally {
    sessions.abort();
    await server.stop();
    target.close();
    target.closeAllConnections();
  }
}

for (let i = 0; i < runs; i++) console.log(JSON.stringify({ run: i + 1, ...(await run()) }));
