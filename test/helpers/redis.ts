import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { freePort } from "./server.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real redis-server on a free loopback port, for tests. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /**
   * Stops the server. With `keepData` (the default) it saves first, so a
   * restart comes back with the same state, as a replicated Redis would after
   * a failover; without it, it is killed and its state is gone.
   */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Empties every database. */
  flush(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections and buffers writes, nothing answers (a stall). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Sends one inline command and returns the first reply line (e.g. `CLIENT PAUSE 2000 WRITE`). */
  command(line: string): Promise<string>;
}

/**
 * Spawns `redis-server` with persistence off (a snapshot is written only by
 * `stop()`, so a restart keeps the data) and waits until it answers PING.
 */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "roster-redis-"));
  let proc: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const p = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
      stdio: "ignore",
    });
    proc = p;
    const end = Date.now() + 5000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`redis-server exited with code ${p.exitCode}`);
      if ((await command(port, "PING").catch(() => "")) === "+PONG") return;
      if (Date.now() > end) throw new Error(`redis-server on port ${port} did not answer PING`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function stop(options: { keepData?: boolean } = {}): Promise<void> {
    const p = proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    if (options.keepData ?? true) {
      // SHUTDOWN SAVE writes dump.rdb even with --save "" and closes the connection without a reply.
      await command(port, "SHUTDOWN SAVE").catch(() => "");
    } else {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    }
    await exited;
    proc = undefined;
  }

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: launch,
    pause: () => void proc?.kill("SIGSTOP"),
    resume: () => void proc?.kill("SIGCONT"),
    command: (line) => command(port, line),
    flush: async () => {
      await command(port, "FLUSHALL");
    },
    close: async () => {
      await stop({ keepData: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends one inline command and returns the first reply line. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: "127.0.0.1", port });
    let data = "";
    s.setTimeout(2000, () => s.destroy(new Error("timeout")));
    s.on("connect", () => s.write(`${line}\r\n`));
    s.on("data", (d) => {
      data += d.toString();
      const nl = data.indexOf("\r\n");
      if (nl >= 0) {
        s.end();
        resolve(data.slice(0, nl));
      }
    });
    s.on("error", reject);
    s.on("close", () => resolve(data));
  });
}

