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
 */
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import { mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { etcdProbe, etcdTarget, rosterProbe, rosterTarget, type Target } from "./clients.ts";
import { framed, lightClient } from "./light-client.ts";
import { epochMs } from "./light-watchers.ts";
import { percentile, sleep } from "./measure.ts";
import { window } from "./measure.ts";
import { snapshotRoster, startEtcd, startRoster, type RunningServer } from "./servers.ts";

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

type System = "floor" | "roster-memory" | "etcd";

/** One running system as the benchmark drives it. */
interface Subject {
  readonly server: RunningServer;
  readonly url: string;
  /** What a light watcher sends to open a watch on `service`. */
  watch(service: string): { path: string; body: Buffer; halfClose: boolean };
  /** Makes the change every watcher of `service` must see, carrying `marker`. */
  trigger(service: string, marker: string): Promise<void>;
  /** An unrelated write, timed while the fan-out runs; undefined where there is none. */
  probe?(i: number): Promise<void>;
  close(): void;
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
    server: { system: "roster-memory", address: `127.0.0.1:${port}`, pids: [child.pid!], stop: async () => void child.kill("SIGKILL") },
    url,
    watch: () => ({ path: "/watch", body: Buffer.alloc(0), halfClose: true }),
    trigger: (_service, marker) =>
      new Promise((resolve) => {
        const st = session.request({ ":method": "POST", ":path": "/fire" });
        st.on("data", () => {});
        st.on("close", () => resolve());
        st.end(Buffer.from(marker));
      }),
    close: () => session.destroy(),
  };
}

async function startSubject(system: System, profileDir: string | undefined): Promise<Subject> {
  if (system === "floor") return startFloor();
  if (system === "roster-memory") {
    const server = await startRoster({ store: "memory", flags: ["--expiry-protection-threshold", "1"], cpuProfDir: profileDir, probe: rosterProbe });
    const target = rosterTarget("roster-memory", server.address, { streamChannels: 1 });
    return subjectOf(server, target, (service) => ({ path: "/roster.v1.RegistryService/Watch", body: framed(field(2, Buffer.from(service))), halfClose: true }));
  }
  const server = await startEtcd(etcdProbe);
  const target = etcdTarget(server.address, { streamChannels: 1 });
  return subjectOf(server, target, (service) => {
    const key = Buffer.from(`/roster/default/${service}/`);
    const end = Buffer.from(key);
    end[end.length - 1]! += 1;
    return { path: "/etcdserverpb.Watch/Watch", body: framed(field(1, Buffer.concat([field(1, key), field(2, end)]))), halfClose: false };
  });
}

function subjectOf(server: RunningServer, target: Target, watch: Subject["watch"]): Subject {
  return {
    server,
    url: `http://${server.address}`,
    watch,
    trigger: async (service, marker) => void (await target.register(service, marker, 300)),
    probe: async (i) => void (await target.register("probe", `p${i % 50}`, 300)),
    close: () => target.close(),
  };
}

async function measure(system: System, n: number, reps: number, profileDir: string | undefined): Promise<Record<string, number>> {
  const subject = await startSubject(system, profileDir);
  const light = lightClient();
  try {
    const service = `fanout-${n}`;
    const { path, body, halfClose } = subject.watch(service);
    await light.ask({ open: { url: subject.url, path, bodyHex: body.toString("hex"), count: n, sessions, halfClose } }, (r) => "ready" in r);
    await sleep(2000);
    const firsts: number[] = [];
    const alls: number[] = [];
    const probes: number[] = [];
    const g0 = (await light.ask<{ cpuMs: number }>({ cpu: true })).cpuMs;
    const w = window(subject.server.pids);
    for (let rep = 0; rep < reps; rep++) {
      const marker = `fo-${rep}-end`;
      const done = light.ask<{ first: number; all: number }>({ expect: marker }, (r) => "all" in r);
      await sleep(20);
      const t0 = epochMs();
      await subject.trigger(service, marker);
      if (subject.probe) {
        const p0 = performance.now();
        await subject.probe(rep);
        probes.push(performance.now() - p0);
      }
      const r = await done;
      firsts.push(r.first - t0);
      alls.push(r.all - t0);
      await sleep(100);
    }
    const u = w.end();
    const g = (await light.ask<{ cpuMs: number }>({ cpu: true })).cpuMs - g0;
    const events = n * reps;
    return {
      serverCpuUsPerEvent: (u.serverCpuMs * 1000) / events,
      firstP50Ms: percentile(firsts, 50),
      allP50Ms: percentile(alls, 50),
      allP99Ms: percentile(alls, 99),
      probeRegisterP50Ms: probes.length ? percentile(probes, 50) : NaN,
      probeRegisterMaxMs: probes.length ? Math.max(...probes) : NaN,
      generatorCpuUsPerEvent: (g * 1000) / events,
      serverRssMiB: u.serverRss / 2 ** 20,
    };
  } finally {
    light.child.kill("SIGKILL");
    subject.close();
    await subject.server.stop();
  }
}

async function main(): Promise<void> {
  const sizes = args.sizes!.split(",").map(Number);
  const reps = Number(args.reps);
  const systems = args.systems!.split(",") as System[];
  const profileDir = args.profile ? fileURLToPath(new URL("results/profiles/", import.meta.url)) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  console.log(`fan-out, light watcher client: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load ${loadavg()[0]!.toFixed(2)}, ${snapshotRoster()}`);
  const rows: string[] = ["| system | watchers | server CPU µs/event | first p50 ms | all p50 ms | all p99 ms | Register during fan-out p50 / max ms | generator CPU µs/event |", "|---|---|---|---|---|---|---|---|"];
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));
  for (const n of sizes) {
    for (const system of systems) {
      const m = await measure(system, n, reps, profileDir);
      console.log(JSON.stringify({ system, n, ...m }));
      rows.push(`| ${system} | ${n} | ${f(m.serverCpuUsPerEvent, 2)} | ${f(m.firstP50Ms)} | ${f(m.allP50Ms)} | ${f(m.allP99Ms)} | ${f(m.probeRegisterP50Ms)} / ${f(m.probeRegisterMaxMs)} | ${f(m.generatorCpuUsPerEvent, 2)} |`);
    }
  }
  console.log(`load at end ${loadavg()[0]!.toFixed(2)}`);
  console.log(rows.join("\n"));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
