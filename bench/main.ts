/**
 * `npm run bench [-- --quick] [--only register,resolve] [--systems etcd,roster-memory] [--profile]`
 * `npm run bench -- --report a.json[,b.json]` prints the tables of earlier runs (later files' workloads win).
 *
 * Runs each workload against a fresh server of each system (Roster with the
 * memory store, Roster with the Redis store when redis-server is installed,
 * etcd when /usr/bin/etcd is installed), all child processes on loopback,
 * with one load generator (this process, @grpc/grpc-js). Prints one markdown
 * table and writes the figures to bench/results/<time>-<mode>.json.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { etcdProbe, etcdTarget, rosterProbe, rosterTarget } from "./clients.ts";
import { printReport, writeJson, type RunResults } from "./report.ts";
import { etcdBinary, redisBinary, rosterAvailable, snapshotRoster, startEtcd, startRedis, startRoster, type RunningServer, type SystemName } from "./servers.ts";
import { fullScale, quickScale, scaleFor, type Workload } from "./workload.ts";
import { expiry } from "./workloads/expiry.ts";
import { fanout } from "./workloads/fanout.ts";
import { heartbeat } from "./workloads/heartbeat.ts";
import { memory } from "./workloads/memory.ts";
import { register } from "./workloads/register.ts";
import { resolve } from "./workloads/resolve.ts";

const workloads: readonly Workload[] = [register, heartbeat, resolve, fanout, expiry, memory];

/**
 * Every Roster server in the suite runs with expiry protection off: the
 * expiry workload lets every instance of its service lapse, and the heartbeat
 * ramp must see a false expiry rather than have protection hide it.
 */
const rosterFlags = ["--expiry-protection-threshold", "1"];

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    systems: { type: "string" },
    profile: { type: "boolean", default: false },
    report: { type: "string" },
  },
});

const scale = args.quick ? quickScale : fullScale;
const log = (msg: string) => console.error(msg);
const profileDir = args.profile ? fileURLToPath(new URL("results/profiles/", import.meta.url)) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

function availableSystems(notes: string[]): SystemName[] {
  const out: SystemName[] = [];
  if (rosterAvailable()) out.push("roster-memory");
  else notes.push("Roster skipped: src/cli/main.ts does not exist yet.");
  if (existsSync(etcdBinary)) out.push("etcd");
  else notes.push(`etcd skipped: ${etcdBinary} not installed (apt-get install etcd-server).`);
  if (rosterAvailable() && existsSync(redisBinary)) out.push("roster-redis");
  else if (!existsSync(redisBinary)) notes.push(`Roster on Redis skipped: ${redisBinary} not installed.`);
  const wanted = args.systems?.split(",");
  return wanted ? out.filter((s) => wanted.includes(s)) : out;
}

async function start(system: SystemName): Promise<RunningServer> {
  if (system === "etcd") return startEtcd(etcdProbe);
  if (system === "roster-memory") return startRoster({ store: "memory", flags: rosterFlags, cpuProfDir: profileDir, probe: rosterProbe });
  const redis = await startRedis();
  try {
    const roster = await startRoster({ store: redis.url, flags: rosterFlags, cpuProfDir: profileDir, probe: rosterProbe });
    return {
      ...roster,
      // Redis does the store's work: its CPU and memory count as the server's.
      pids: [...roster.pids, redis.pid],
      stop: async () => {
        await roster.stop();
        await redis.stop();
      },
    };
  } catch (err) {
    await redis.stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const notes: string[] = [
    "Roster runs with --expiry-protection-threshold 1 (protection off) in every workload.",
    ...(args.quick ? ["Quick mode: small counts; a smoke check, not figures to quote (memory per item is dominated by heap growth at these counts)."] : ["Roster on Redis: heartbeat ramp to 10,000 and memory at 20,000 instances only (its CPU and memory include redis-server's)."]),
    "etcd runs with its defaults (fsync on every commit) on the same disk.",
  ];
  const systems = availableSystems(notes);
  if (systems.some((s) => s.startsWith("roster"))) notes.push(`${snapshotRoster()}, copied at start so that edits during the run do not reach it.`);
  const only = args.only?.split(",");
  const run: RunResults = {
    startedAt: new Date().toISOString(),
    mode: args.quick ? "quick" : "full",
    machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average at start ${loadavg()[0]!.toFixed(2)}`,
    notes,
    results: {},
  };
  const t0 = performance.now();
  for (const w of workloads) {
    if (only && !only.includes(w.name)) continue;
    run.results[w.name] = {};
    for (const system of systems) {
      log(`${w.name} on ${system}…`);
      const began = performance.now();
      let server: RunningServer | undefined;
      const sized = scaleFor(scale, system);
      const channels = w.streamChannels(sized);
      try {
        server = await start(system);
        const target = system === "etcd" ? etcdTarget(server.address, { streamChannels: channels }) : rosterTarget(system, server.address, { streamChannels: channels });
        try {
          run.results[w.name]![system] = await w.run({ target, server, scale: sized, log });
        } finally {
          target.close();
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  failed: ${message}`);
        run.results[w.name]![system] = { error: message.split("\n").filter((l) => l.trim()).slice(0, 4).join(" / ") };
      } finally {
        await server?.stop();
        log(`  (${((performance.now() - began) / 1000).toFixed(1)} s)`);
      }
    }
  }
  const minutes = (performance.now() - t0) / 60_000;
  notes.push(`Run took ${minutes.toFixed(1)} min; load average at end ${loadavg()[0]!.toFixed(2)}.`);
  printReport(run, writeJson(run));
}

/** `--report a.json,b.json`: later files' results replace earlier ones workload by workload and system by system. */
async function report(paths: string[]): Promise<void> {
  const runs = paths.map((p) => JSON.parse(readFileSync(p, "utf8")) as RunResults);
  const notes = [...runs[0]!.notes];
  const merged: RunResults = { ...runs[0]!, notes, results: {} };
  for (const [i, r] of runs.entries()) {
    for (const [w, bySystem] of Object.entries(r.results)) merged.results[w] = { ...merged.results[w], ...bySystem };
    if (i > 0) notes.push(`Merged from ${paths[i]} (${r.startedAt}): ${Object.keys(r.results).join(", ")}; ${r.notes.filter((n) => n.startsWith("Roster at")).join(" ")}`);
  }
  printReport(merged, paths.join(", "));
}

const runOrReport = args.report ? () => report(args.report!.split(",")) : main;

runOrReport().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
