import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort, until } from "../../helpers/server.js";
import { killProcess } from "../../helpers/kill-process.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** A child process of the fault suite, controlled by PID. */
export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything it wrote so far. */
  output(): string;
  stop(): void;
  cont(): void;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    stop: () => void proc.kill("SIGSTOP"),
    cont: () => void proc.kill("SIGCONT"),
    kill: () => killProcess(proc),
  };
}

/** A `roster serve` process. */
export interface RosterNode extends Child {
  readonly port: number;
  readonly url: string;
}

/** Spawns `roster serve` on a free port with `flags` (kebab-case flag -> value) and waits until it listens. */
export async function spawnRoster(flags: Record<string, string | number>): Promise<RosterNode> {
  const port = await freePort();
  const args = ["src/cli/main.ts", "serve", "--port", String(port), "--log-level", "info"];
  for (const [k, v] of Object.entries(flags)) args.push(`--${k}`, String(v));
  const c = child(args);
  await until("roster serve to listen", () => c.output().includes(`"url":"http://127.0.0.1:${port}"`) || c.proc.exitCode !== null, 30_000);
  if (c.proc.exitCode !== null) throw new Error(`roster serve exited: ${c.output()}`);
  return { ...c, port, url: `http://127.0.0.1:${port}` };
}

/** Spawns the load generator (see load-generator.ts) and waits until its instances are registered. */
export async function spawnLoad(opts: { registry: string[]; service: string; count: number; ttlMs: number; first?: number }): Promise<Child> {
  const c = child([fileURLToPath(new URL("./load-generator.ts", import.meta.url)), JSON.stringify(opts)]);
  await until("the load generator to register its instances", () => c.output().includes("ready") || c.proc.exitCode !== null, 60_000);
  if (c.proc.exitCode !== null) throw new Error(`load generator exited: ${c.output()}`);
  return c;
}

/** CPU time of every thread of a process so far, in milliseconds (from /proc/PID/task/TID/schedstat, nanoseconds). */
export function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return ns / 1e6;
}

/** Resident set size of a process, in MiB (from /proc/PID/status). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}
