/**
 * `npm run bench:store [-- --instances 1000000 --per-service 1000 --rounds 2]`
 *
 * The memory store at the size the registry allows (issue 10): fills one
 * in-process MemoryStore with `--instances` instances, each with a one-hour
 * lease, through `Store.register` (no RPC), and reports per round:
 * - heap and RSS per instance after a full GC at 100,000 and at the full size
 *   (the store's own cost; a server adds its transport's garbage on top);
 * - the lease sweep's cost at that size (one sweep with nothing due, timed
 *   directly; the store sweeps every sweep-interval-ms), and the process's
 *   CPU over an idle 5 s once 10 s have passed (timers and V8's own work);
 * - the time a Watch snapshot takes, for one service and for the namespace.
 * Needs `--expose-gc` (the npm script passes it). Rounds run in fresh stores.
 */
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../src/config.js";
import { WatchHub } from "../src/server/watch-hub.js";
import { spec } from "../src/store/contract/index.js";
import { MemoryStore } from "../src/store/memory-store.js";

const { values: args } = parseArgs({
  options: {
    instances: { type: "string", default: "1000000" },
    "per-service": { type: "string", default: "1000" },
    rounds: { type: "string", default: "2" },
  },
});
const total = Number(args.instances);
const perService = Number(args["per-service"]);
const rounds = Number(args.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:store does)");

const config = resolveConfig({
  // The namespace snapshot is one watcher's backlog; let it hold the whole registry so the figure is the snapshot's time.
  limits: { maxInstances: total, maxInstancesPerService: perService, maxWatchQueue: total + 10 },
  // The defaults otherwise: history of 100,000 changes (the last registrations), sweep every 100 ms.
});

interface Round {
  heapPerInstance100k: number;
  rssPerInstance100k: number;
  heapPerInstance: number;
  rssPerInstance: number;
  fillSeconds: number;
  idleCpuMsPerSecond: number;
  sweepOnceMs: number;
  serviceSnapshotMs: number;
  namespaceSnapshotMs: number;
}

function settle(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** Milliseconds until a snapshot of `service` (or the namespace) has been taken to SNAPSHOT_COMPLETE. */
async function snapshotMs(hub: WatchHub, service: string | undefined, expect: number): Promise<number> {
  const ac = new AbortController();
  const t = performance.now();
  let n = 0;
  for await (const m of hub.watch({ namespace: "default", service, filter: { tags: [], metadata: {}, zone: "" }, startRevision: 0n }, ac.signal)) {
    if (m.type === WatchEventType.ADDED) n++;
    if (m.type === WatchEventType.SNAPSHOT_COMPLETE) break;
  }
  const ms = performance.now() - t;
  ac.abort();
  if (n !== expect) throw new Error(`snapshot had ${n} instances, expected ${expect}`);
  return ms;
}

async function round(): Promise<Round> {
  const base = settle();
  const store = new MemoryStore({ limits: config.limits, timing: config.timing });
  const t0 = performance.now();
  let at100k: { heap: number; rss: number } | undefined;
  for (let i = 0; i < total; i++) {
    await store.register(spec({ service: `svc-${Math.floor(i / perService)}`, id: `inst-${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, ttlMs: 3_600_000 }));
    if (i + 1 === 100_000) at100k = settle();
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const full = settle();
  const n100k = Math.min(total, 100_000);
  at100k ??= full;

  const hub = new WatchHub(store, config.limits, config.timing);
  // The sweep itself, timed directly: V8 keeps collecting a freshly filled heap for a while, which an idle
  // process-CPU figure would count too.
  const sweeps = 1_000;
  const s0 = performance.now();
  for (let i = 0; i < sweeps; i++) store.sweep();
  const sweepOnceMs = (performance.now() - s0) / sweeps;
  await new Promise((r) => setTimeout(r, 10_000));
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, 5_000));
  const used = process.cpuUsage(cpu0);
  const idleCpuMsPerSecond = (used.user + used.system) / 1000 / ((performance.now() - w0) / 1000);

  const serviceSnapshotMs = await snapshotMs(hub, "svc-0", Math.min(perService, total));
  const namespaceSnapshotMs = await snapshotMs(hub, undefined, total);
  hub.close();
  await store.close();
  return {
    heapPerInstance100k: (at100k.heap - base.heap) / n100k,
    rssPerInstance100k: (at100k.rss - base.rss) / n100k,
    heapPerInstance: (full.heap - base.heap) / total,
    rssPerInstance: (full.rss - base.rss) / total,
    fillSeconds,
    idleCpuMsPerSecond,
    sweepOnceMs,
    serviceSnapshotMs,
    namespaceSnapshotMs,
  };
}

const results: Round[] = [];
for (let r = 0; r < rounds; r++) {
  console.error(`round ${r + 1} of ${rounds}: ${total} instances, ${perService} per service`);
  results.push(await round());
  console.error(JSON.stringify(results.at(-1)));
}

const fmt = (k: keyof Round, digits = 0) => {
  const v = results.map((x) => x[k]);
  const [lo, hi] = [Math.min(...v), Math.max(...v)];
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
};
console.log(`\nMemory store at ${total.toLocaleString("en")} instances with leases, ${perService} per service; ${rounds} rounds (min–max); ${cpus()[0]?.model ?? "?"} × ${cpus().length}, Node ${process.versions.node}\n`);
console.log("| measure | value |\n| --- | --- |");
if (total > 100_000) {
  console.log(`| heap per instance after GC, 100,000 | ${fmt("heapPerInstance100k")} B |`);
  console.log(`| RSS per instance after GC, 100,000 | ${fmt("rssPerInstance100k")} B |`);
}
console.log(`| heap per instance after GC, ${total.toLocaleString("en")} | ${fmt("heapPerInstance")} B |`);
console.log(`| RSS per instance after GC, ${total.toLocaleString("en")} | ${fmt("rssPerInstance")} B |`);
console.log(`| fill time (Store.register, no RPC) | ${fmt("fillSeconds", 1)} s |`);
console.log(`| one sweep with nothing due | ${fmt("sweepOnceMs", 4)} ms (${config.timing.sweepIntervalMs} ms apart: ${results.map((x) => (x.sweepOnceMs * 1000) / config.timing.sweepIntervalMs).map((v) => v.toFixed(2)).join(", ")} ms of CPU per second) |`);
console.log(`| process CPU while idle, 10 s after the fill | ${fmt("idleCpuMsPerSecond", 1)} ms per second |`);
console.log(`| Watch snapshot, one service (${Math.min(perService, total)}) | ${fmt("serviceSnapshotMs", 1)} ms |`);
console.log(`| Watch snapshot, whole namespace (${total.toLocaleString("en")}) | ${fmt("namespaceSnapshotMs", 0)} ms |`);
