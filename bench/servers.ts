import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Ticks per second of utime/stime in /proc/<pid>/stat. */
export const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const pageSize = Number(execFileSync("getconf", ["PAGESIZE"]).toString().trim());

/** CPU and memory of a set of processes at one moment. */
export interface ProcSample {
  /** utime + stime summed over the processes, in ticks. */
  readonly ticks: number;
  /** Resident set size summed over the processes, in bytes. */
  readonly rss: number;
  /** performance.now() when it was taken. */
  readonly at: number;
}

/** Reads utime+stime and RSS of each pid from /proc and sums them. */
export function sampleProcs(pids: readonly number[]): ProcSample {
  let ticks = 0;
  let rss = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) may hold spaces; every later field follows the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
    rss += Number(fields[21]) * pageSize;
  }
  return { ticks, rss, at: performance.now() };
}

/** A server under test, running as child processes of the benchmark. */
export interface RunningServer {
  /** "roster-memory", "roster-redis" or "etcd". */
  readonly system: SystemName;
  /** host:port of its gRPC API. */
  readonly address: string;
  /** The processes whose CPU and memory count as the server's (Roster plus Redis for the Redis store). */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

export type SystemName = "roster-memory" | "roster-redis" | "etcd";

/** A TCP port on loopback that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

function track(child: ChildProcess, name: string): { exited: () => boolean; log: () => string } {
  let out = "";
  let gone = false;
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    gone = true;
    out += `\n[${name} exited: code ${code} signal ${signal}]`;
  });
  return { exited: () => gone, log: () => out };
}

async function kill(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await done;
  clearTimeout(timer);
}

async function waitUntil(what: string, ready: () => Promise<boolean>, exited: () => boolean, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (exited()) throw new Error(`${what} exited during start:\n${log()}`);
    if (await ready().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${log()}`);
}

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Whether `roster serve` can be started from this tree yet. */
export function rosterAvailable(): boolean {
  return existsSync(join(repoRoot, "src/cli/main.ts"));
}

/** Where Roster servers are started from: the tree itself until `snapshotRoster` runs. */
let rosterRoot = repoRoot;

/**
 * Copies the server's sources (src, gen, proto) to a temp directory and
 * starts every later Roster server from there, so that edits made to the
 * tree while a run is under way do not change what is measured halfway.
 * Returns a description of the code measured: the commit and any
 * uncommitted changes under src/.
 */
export function snapshotRoster(): string {
  const dir = mkdtempSync(join(tmpdir(), "roster-bench-src-"));
  for (const entry of ["src", "gen", "proto", "package.json", "tsconfig.json"]) {
    cpSync(join(repoRoot, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
  rosterRoot = dir;
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repoRoot }).toString().trim();
  try {
    const dirty = git("status", "--porcelain", "--", "src", "gen").split("\n").filter(Boolean).length;
    return `Roster at ${git("rev-parse", "--short", "HEAD")}${dirty ? ` plus ${dirty} uncommitted file(s) under src/ or gen/` : ""}`;
  } catch {
    return "Roster from a tree outside git";
  }
}

export interface RosterOptions {
  /** "memory" or a redis:// URL. */
  readonly store: string;
  /** Extra `roster serve` flags, e.g. ["--max-watchers", "200000"]. */
  readonly flags?: readonly string[];
  /** Write a V8 CPU profile of the server into this directory when it exits. */
  readonly cpuProfDir?: string;
  /** Answers true once the server serves requests. */
  readonly probe: (address: string) => Promise<boolean>;
}

/**
 * Starts `roster serve` as a child: node runs src/cli/main.ts through tsx's
 * loader in one process (not the tsx CLI, which forks a second node), so the
 * child's pid is the server's and /proc/<pid>/stat is its CPU.
 */
export async function startRoster(opts: RosterOptions): Promise<RunningServer> {
  const port = await freePort();
  const nodeArgs = ["--import", "tsx"];
  if (opts.cpuProfDir) nodeArgs.push("--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir);
  const args = [...nodeArgs, "src/cli/main.ts", "serve", "--port", String(port), "--log-level", "warn", "--store", opts.store, ...(opts.flags ?? [])];
  const child = spawn(process.execPath, args, { cwd: rosterRoot, stdio: ["ignore", "pipe", "pipe"] });
  const t = track(child, "roster");
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntil("roster", () => opts.probe(address), t.exited, t.log);
  } catch (err) {
    await kill(child);
    throw err;
  }
  return {
    system: opts.store === "memory" ? "roster-memory" : "roster-redis",
    address,
    pids: [child.pid!],
    // SIGINT lets node write the --cpu-prof profile on the way out.
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await done;
        clearTimeout(timer);
      }
    },
  };
}

export const etcdBinary = "/usr/bin/etcd";
export const redisBinary = "/usr/bin/redis-server";

/** Starts a single-member etcd on loopback ports with its own data directory. */
export async function startEtcd(probe: (address: string) => Promise<boolean>): Promise<RunningServer> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "roster-bench-etcd-"));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    etcdBinary,
    [
      "--name", "bench",
      "--data-dir", dir,
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `bench=${peer}`,
      "--log-level", "error",
      "--logger", "zap",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const t = track(child, "etcd");
  const address = `127.0.0.1:${clientPort}`;
  try {
    await waitUntil("etcd", () => probe(address), t.exited, t.log);
  } catch (err) {
    await kill(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    system: "etcd",
    address,
    pids: [child.pid!],
    stop: async () => {
      await kill(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A redis-server on a loopback port, without persistence. */
export interface RunningRedis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts redis-server on a free loopback port, no persistence, in a temp dir. */
export async function startRedis(): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "roster-bench-redis-"));
  const child = spawn(redisBinary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const t = track(child, "redis");
  const ping = async () => {
    const { Socket } = await import("node:net");
    return new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.setTimeout(500);
      s.once("error", () => resolve(false));
      s.once("timeout", () => (s.destroy(), resolve(false)));
      s.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
      s.once("data", (d) => (s.destroy(), resolve(d.toString().startsWith("+PONG"))));
    });
  };
  await waitUntil("redis-server", ping, t.exited, t.log, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      await kill(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
