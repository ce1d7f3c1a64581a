/**
 * `npx tsx bench/fanout-light.ts [--sizes 1000,10000] [--reps 20] [--systems floor,roster-memory,etcd] [--profile]`
 *
 * Watch fan-out measured the way issue 10 asks: a light watcher client
 * (bench/light-watchers.ts, raw node:http2, frame headers only) in its own
 * process follows N watchers; the bare node:http2 floor
 * (bench/bare-floor-server.ts) and etcd run in the same invocation. Per size
 * and system: server CPU per delivered event, time until the first and until
 * every watcher has the change (p50/p99 over the repetitions), the generator's
 * CPU per event, and how long a Register to another service sent right after
 * the triggering one waits (the fan-out must not hold the event loop).
 * Run it twice and quote min–max.
 *
 * More systems, chosen with --systems:
 * - `roster-memory-grpcjs`: the memory store followed by `@grpc/grpc-js`
 *   watchers (bench/grpcjs-watchers.ts), what users run; the client is the
 *   bound there, and its CPU per event says so.
 * - `roster-redis`, `roster-redis-2`, `roster-redis-3`: a redis-server of its
 *   own and 1, 2 or 3 nodes on it, the watchers spread evenly over the nodes
 *   (one light client process per node), every Register sent to the first
 *   node. Server CPU per event is given per node; Redis's CPU, bytes sent and
 *   change-stream memory per change come from Redis (bench/redis-usage.ts).
 */
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import { mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { etcdProbe, etcdTarget, rosterProbe, rosterTarget, type Target } from "./clients.ts";
import { framed, lightClient } from "./light-client.ts";
import type { GrpcjsRequest } from "./grpcjs-watchers.ts";
import { epochMs, percentile, pool, sleep, window } from "./measure.ts";
import { redisDelta, redisUsage, type RedisDelta } from "./redis-usage.ts";
import { snapshotRoster, startEtcd, startRedis, startRoster, type RunningServer } from "./servers.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000" },
    reps: { type: "string", default: "20" },
    systems: { type: "string", default: "floor,roster-memory,etcd" },
    profile: { type: "boolean", default: false },
  },
});
const here = fileURLToPath(new URL(".", import.meta.url));
const sessions = 8;

type System = "floor" | "roster-memory" | "roster-memory-grpcjs" | "etcd" | `roster-redis${"" | "-2" | "-3"}`;
const known = /^(floor|roster-memory|roster-memory-grpcjs|etcd|roster-redis(-[23])?)$/;

/** Changes made to one unwatched service after the fan-out, so the stream's memory per entry is a slope, not its fixed overhead over a few entries. */
const fillChanges = 1000;

/** How many settle-free milliseconds of Redis background (sweeps, probes, member renewals) are sampled before the measured window. */
const quietMs = 3000;

/** One running system as the benchmark drives it. */
interface Subject {
  /** Its nodes; watchers are spread evenly over them, writes go to the first. */
  readonly servers: readonly RunningServer[];
  /** Which watcher client follows it. */
  readonly client: "light" | "grpcjs";
  /** What a light watcher sends to open a watch on `service`. */
  watch(service: string): { path: string; body: Buffer; halfClose: boolean };
  /** Makes the change every watcher of `service` must see, carrying `marker`. */
  trigger(service: string, marker: string): Promise<void>;
  /** An unrelated write, timed while the fan-out runs; undefined where there is none. */
  probe?(i: number): Promise<void>;
  /** The Redis behind the nodes, read for its own figures, and a way to make `count` changes nobody watches; undefined off Redis. */
  readonly redis?: { readonly usage: ReturnType<typeof redisUsage>; fill(count: number): Promise<void> };
  close(): Promise<void>;
}

/** A watcher client process for one node: the light one or grpc-js, driven alike. */
interface Watchers {
  open(service: string, count: number): Promise<void>;
  ask<T>(m: { expect: string } | { cpu: true }, until?: (r: Record<string, unknown>) => boolean): Promise<T>;
  kill(): void;
}

function watchersFor(subject: Subject, server: RunningServer): Watchers {
  if (subject.client === "grpcjs") {
    const c = lightClient<GrpcjsRequest>("grpcjs-watchers.ts");
    return {
      open: async (service, count) => void (await c.ask({ open: { address: server.address, service, count, sessions } }, (r) => "ready" in r)),
      ask: (m, until) => c.ask(m, until),
      kill: () => c.child.kill("SIGKILL"),
    };
  }
  const c = lightClient();
  return {
    open: async (service, count) => {
      const { path, body, halfClose } = subject.watch(service);
      await c.ask({ open: { url: `http://${server.address}`, path, bodyHex: body.toString("hex"), count, sessions, halfClose } }, (r) => "ready" in r);
    },
    ask: (m, until) => c.ask(m, until),
    kill: () => c.child.kill("SIGKILL"),
  };
}

function field(no: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(no << 3) | 2, bytes.length]), bytes]);
}

async function startFloor(): Promise<Subject> {
  const child = spawn(process.execPath, ["--import", "tsx", `${here}bare-floor-server.ts`], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()).port)));
  const url = `http://127.0.0.1:${port}`;
  const session = http2.connect(url);
  session.on("error", () => {});
  return {
    servers: [{ system: "roster-memory", address: `127.0.0.1:${port}`, pids: [child.pid!], stop: async () => void child.kill("SIGKILL") }],
    client: "light",
    watch: () => ({ path: "/watch", body: Buffer.alloc(0), halfClose: true }),
    trigger: (_service, marker) =>
      new Promise((resolve) => {
        const st = session.request({ ":method": "POST", ":path": "/fire" });
        st.on("data", () => {});
        st.on("close", () => resolve());
        st.end(Buffer.from(marker));
      }),
    close: async () => {
      session.destroy();
      child.kill("SIGKILL");
    },
  };
}

const rosterWatch: Subject["watch"] = (service) => ({ path: "/roster.v1.RegistryService/Watch", body: framed(field(2, Buffer.from(service))), halfClose: true });
const rosterFlags = ["--expiry-protection-threshold", "1"];

async function startRedisSubject(nodes: number, profileDir: string | undefined): Promise<Subject> {
  const redis = await startRedis();
  const servers: RunningServer[] = [];
  try {
    for (let i = 0; i < nodes; i++) servers.push(await startRoster({ store: redis.url, flags: rosterFlags, cpuProfDir: profileDir, probe: rosterProbe }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    await redis.stop();
    throw err;
  }
  const target = rosterTarget("roster-redis", servers[0]!.address, { streamChannels: 1 });
  const usage = redisUsage(redis.url);
  const subject = subjectOf(servers, target, rosterWatch);
  return {
    ...subject,
    redis: { usage, fill: (count) => pool(count, 32, async (i) => void (await target.register("fill", `f${i}`, 300))) },
    close: async () => {
      usage.close();
      await subject.close();
      await redis.stop();
    },
  };
}

async function startSubject(system: System, profileDir: string | undefined): Promise<Subject> {
  if (system === "floor") return startFloor();
  if (system === "roster-memory" || system === "roster-memory-grpcjs") {
    const server = await startRoster({ store: "memory", flags: rosterFlags, cpuProfDir: profileDir, probe: rosterProbe });
    const target = rosterTarget("roster-memory", server.address, { streamChannels: 1 });
    return { ...subjectOf([server], target, rosterWatch), client: system === "roster-memory" ? "light" : "grpcjs" };
  }
  if (system.startsWith("roster-redis")) return startRedisSubject(Number(system.slice("roster-redis-".length) || 1), profileDir);
  const server = await startEtcd(etcdProbe);
  const target = etcdTarget(server.address, { streamChannels: 1 });
  return subjectOf([server], target, (service) => {
    const key = Buffer.from(`/roster/default/${service}/`);
    const end = Buffer.from(key);
    end[end.length - 1]! += 1;
    return { path: "/etcdserverpb.Watch/Watch", body: framed(field(1, Buffer.concat([field(1, key), field(2, end)]))), halfClose: false };
  });
}

function subjectOf(servers: readonly RunningServer[], target: Target, watch: Subject["watch"]): Subject {
  return {
    servers,
    client: "light",
    watch,
    trigger: async (service, marker) => void (await target.register(service, marker, 300)),
    probe: async (i) => void (await target.register("probe", `p${i % 50}`, 300)),
    close: async () => {
      target.close();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** Redis's figures for one measured window, with the background of a quiet window of the same nodes taken out. */
function redisFigures(quiet: RedisDelta, run: RedisDelta, nodes: number): Record<string, number> {
  const background = run.wallMs / quiet.wallMs;
  const netPerChange = (run.netOutBytes - quiet.netOutBytes * background) / run.changes;
  return {
    changes: run.changes,
    redisCpuUsPerChange: ((run.cpuMs - quiet.cpuMs * background) * 1000) / run.changes,
    redisCpuUsPerChangeRaw: (run.cpuMs * 1000) / run.changes,
    redisIdleCpuMsPerSec: (quiet.cpuMs * 1000) / quiet.wallMs,
    redisOutBytesPerChangePerNode: netPerChange / nodes,
    redisOutBytesPerChangePerNodeRaw: run.netOutBytes / run.changes / nodes,
    redisIdleOutBytesPerSec: (quiet.netOutBytes * 1000) / quiet.wallMs,
  };
}

/** Uncounted rounds before the measured ones: at least 5, and at least 20,000 deliveries' worth. */
function warmupRounds(n: number): number {
  return Math.max(5, Math.ceil(20_000 / n));
}

/** `n` split over `k` nodes as evenly as whole watchers allow. */
function shares(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

async function measure(system: System, n: number, reps: number, profileDir: string | undefined): Promise<Record<string, number | string>> {
  const subject = await startSubject(system, profileDir);
  const counts = shares(n, subject.servers.length);
  const clients = subject.servers.map((server) => watchersFor(subject, server));
  const cpuMs = async () => (await Promise.all(clients.map((c) => c.ask<{ cpuMs: number }>({ cpu: true })))).reduce((a, r) => a + r.cpuMs, 0);
  try {
    const service = `fanout-${n}`;
    await Promise.all(clients.map((c, i) => c.open(service, counts[i]!)));
    await sleep(2000);
    const firsts: number[] = [];
    const alls: number[] = [];
    const probes: number[] = [];
    /** One change and its fan-out; its times are kept when `keep`. */
    const round = async (marker: string, rep: number, keep: boolean) => {
      const done = Promise.all(clients.map((c) => c.ask<{ first: number; all: number }>({ expect: marker }, (r) => "all" in r)));
      await sleep(20);
      const t0 = epochMs();
      await subject.trigger(service, marker);
      if (subject.probe) {
        const p0 = performance.now();
        await subject.probe(rep);
        if (keep) probes.push(performance.now() - p0);
      }
      const r = await done;
      if (keep) firsts.push(Math.min(...r.map((x) => x.first)) - t0);
      if (keep) alls.push(Math.max(...r.map((x) => x.all)) - t0);
      await sleep(100);
    };
    // Uncounted rounds first, for every system alike: without them the JIT's warm-up (the first few rounds cost the
    // bare floor 20 µs/event against 4-6 later) weighs on the figure at 1,000 watchers, where a run holds few events.
    for (let w = 0; w < warmupRounds(n); w++) await round(`fo-warm-${w}-end`, reps + w, false);
    const redis = subject.redis?.usage;
    const r0 = redis && (await redis.sample());
    if (r0) await sleep(quietMs);
    const r1 = redis && (await redis.sample());
    const g0 = await cpuMs();
    const windows = subject.servers.map((s) => window(s.pids));
    for (let rep = 0; rep < reps; rep++) await round(`fo-${rep}-end`, rep, true);
    const used = windows.map((w) => w.end());
    const r2 = redis && (await redis.sample());
    const g = (await cpuMs()) - g0;
    let fill: Record<string, number> = {};
    if (redis && subject.redis) {
      const [s0, f0] = [await redis.stream(), await redis.sample()];
      await subject.redis.fill(fillChanges);
      const [f1, s1] = [await redis.sample(), await redis.stream()];
      const d = redisDelta(f0, f1);
      fill = {
        streamBytesPerEntry: (s1.bytes - s0.bytes) / (s1.entries - s0.entries),
        fillRedisCpuUsPerChange: (d.cpuMs * 1000) / d.changes,
        fillRegistersPerSec: (d.changes * 1000) / d.wallMs,
      };
    }
    // Per node: its CPU over the events its own watchers received.
    const perNode = used.map((u, i) => (u.serverCpuMs * 1000) / (counts[i]! * reps));
    const events = n * reps;
    return {
      serverCpuUsPerEvent: (used.reduce((a, u) => a + u.serverCpuMs, 0) * 1000) / events,
      serverCpuUsPerEventByNode: perNode.map((x) => x.toFixed(2)).join(" / "),
      firstP50Ms: percentile(firsts, 50),
      allP50Ms: percentile(alls, 50),
      allP99Ms: percentile(alls, 99),
      probeRegisterP50Ms: probes.length ? percentile(probes, 50) : NaN,
      probeRegisterMaxMs: probes.length ? Math.max(...probes) : NaN,
      generatorCpuUsPerEvent: (g * 1000) / events,
      serverRssMiB: Math.max(...used.map((u) => u.serverRss)) / 2 ** 20,
      ...(r0 && r1 && r2 ? redisFigures(redisDelta(r0, r1), redisDelta(r1, r2), subject.servers.length) : {}),
      ...fill,
    };
  } finally {
    for (const c of clients) c.kill();
    await subject.close();
  }
}

async function main(): Promise<void> {
  const sizes = args.sizes!.split(",").map(Number);
  const reps = Number(args.reps);
  const systems = args.systems!.split(",");
  for (const s of systems) if (!known.test(s)) throw new Error(`unknown system ${s} (floor, roster-memory, roster-memory-grpcjs, etcd, roster-redis, roster-redis-2, roster-redis-3)`);
  const profileDir = args.profile ? fileURLToPath(new URL("results/profiles/", import.meta.url)) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  console.log(`fan-out: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load ${loadavg()[0]!.toFixed(2)}, ${snapshotRoster()}`);
  const rows: string[] = [
    "| system | watchers | server CPU µs/event (per node) | first p50 ms | all p50 ms | all p99 ms | Register during fan-out p50 / max ms | client CPU µs/event | load |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const redisRows: string[] = [
    `| system | watchers | changes | Redis CPU µs/change (raw) | Redis idle CPU ms/s | Redis out bytes/change/node (raw) | Redis idle out B/s | stream bytes/entry | Redis CPU µs/change, ${fillChanges} unwatched Registers (per s) | load |`,
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  const f = (x: number | string | undefined, d = 1) => (typeof x === "string" ? x : x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));
  for (const n of sizes) {
    for (const system of systems as System[]) {
      const m = await measure(system, n, reps, profileDir);
      const load = loadavg()[0]!.toFixed(2);
      console.log(JSON.stringify({ system, n, load: Number(load), ...m }));
      const byNode = String(m.serverCpuUsPerEventByNode).includes("/") ? ` (${m.serverCpuUsPerEventByNode})` : "";
      rows.push(
        `| ${system} | ${n} | ${f(m.serverCpuUsPerEvent, 2)}${byNode} | ${f(m.firstP50Ms)} | ${f(m.allP50Ms)} | ${f(m.allP99Ms)} | ${f(m.probeRegisterP50Ms)} / ${f(m.probeRegisterMaxMs)} | ${f(m.generatorCpuUsPerEvent, 2)} | ${load} |`,
      );
      if (m.changes !== undefined) {
        redisRows.push(
          `| ${system} | ${n} | ${m.changes} | ${f(m.redisCpuUsPerChange)} (${f(m.redisCpuUsPerChangeRaw)}) | ${f(m.redisIdleCpuMsPerSec, 2)} | ${f(m.redisOutBytesPerChangePerNode, 0)} (${f(m.redisOutBytesPerChangePerNodeRaw, 0)}) | ${f(m.redisIdleOutBytesPerSec, 0)} | ${f(m.streamBytesPerEntry, 0)} | ${f(m.fillRedisCpuUsPerChange)} (${f(m.fillRegistersPerSec, 0)}) | ${load} |`,
        );
      }
    }
  }
  console.log(`load at end ${loadavg()[0]!.toFixed(2)}`);
  console.log(rows.join("\n"));
  if (redisRows.length > 2) console.log(`\nOn Redis (per change, background of a ${quietMs / 1000} s quiet window taken out; raw in brackets):\n${redisRows.join("\n")}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
