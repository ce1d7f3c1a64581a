import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { detachReplica, killProcess, replicationInfo, stopAll, waitInSync } from "./redis-replication.js";
import { freePort, until } from "./server.js";

/** The master name every test Sentinel set monitors. */
export const MASTER_NAME = "mymaster";

/** One redis-server of a Sentinel set (a data node or a sentinel). */
export interface SentinelSetProcess {
  readonly port: number;
  readonly proc: ChildProcess;
}

/** A real primary, a replica and three sentinels on free loopback ports. */
export interface TestSentinelSet {
  /** `redis+sentinel://` with all three sentinels. */
  readonly url: string;
  readonly data: readonly SentinelSetProcess[];
  readonly sentinels: readonly SentinelSetProcess[];
  /** The port the sentinels name as primary now. */
  primaryPort(): Promise<number>;
  /** A plain connection to a data node, for the test's own reads and commands. */
  client(port: number): Redis;
  /** Waits until every replica of the primary has acknowledged its whole replication stream. */
  inSync(): Promise<void>;
  /**
   * Cuts the replica on `port` off its primary so it lags from now on: a wrong
   * `masterauth` and a killed link, so every reconnect fails its handshake
   * while the sentinels still count it as a replica (its link is down for
   * less than their ten-times-down-after limit). The primary keeps accepting writes.
   */
  detach(port: number): Promise<void>;
  /** SIGKILLs the data node on `port` and waits for its exit. */
  kill(port: number): Promise<void>;
  /** Waits until the sentinels name a primary other than `oldPort` and it accepts writes; returns its port. */
  promoted(oldPort: number, ms?: number): Promise<number>;
  /** Stops everything and removes the directories. */
  close(): Promise<void>;
}

/**
 * Starts a primary, one replica and three sentinels (quorum 2) with generated
 * configs. Failure detection is shortened (down-after 1 s, failover-timeout
 * 3 s) so a failover test ends in seconds; persistence is off, so a killed
 * node keeps nothing and only replication carries the data across.
 */
export async function startSentinelSet(): Promise<TestSentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), "roster-sentinel-"));
  const children: ChildProcess[] = [];
  const launch = (args: string[]): ChildProcess => {
    const p = spawn("redis-server", args, { stdio: "ignore" });
    children.push(p);
    return p;
  };
  const clients: Redis[] = [];
  const client = (port: number): Redis => {
    const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false });
    r.on("error", () => {});
    clients.push(r);
    return r;
  };
  const ping = async (port: number): Promise<boolean> => {
    const r = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => {});
    try {
      await r.connect();
      return (await r.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };

  const dataPorts = [await freePort(), await freePort()];
  const common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"];
  const data = dataPorts.map((port, i) => {
    const args = ["--port", String(port), "--dir", dir, "--dbfilename", `dump${i}.rdb`, ...common];
    if (i > 0) args.push("--replicaof", "127.0.0.1", String(dataPorts[0]));
    return { port, proc: launch(args) };
  });
  for (const d of data) await until(`redis-server ${d.port} to answer`, () => ping(d.port), 5000);

  const sentinels: SentinelSetProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel${i}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${dataPorts[0]} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        "",
      ].join("\n"),
    );
    sentinels.push({ port, proc: launch([conf, "--sentinel"]) });
  }
  for (const s of sentinels) await until(`sentinel ${s.port} to answer`, () => ping(s.port), 5000);
  const sentinelClients = sentinels.map((s) => client(s.port));

  const primaryPort = async (): Promise<number> => {
    for (const s of sentinelClients) {
      const addr = (await s.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME).catch(() => null)) as string[] | null;
      if (addr?.[1] !== undefined) return Number(addr[1]);
    }
    throw new Error("no sentinel names a primary");
  };
  const info = (port: number) => replicationInfo(client(port));
  // The replica must be attached and every sentinel must know it before a failover can promote it.
  await until("the replica to sync", async () => (await info(dataPorts[1]!))["master_link_status"] === "up", 10_000);
  await until(
    "every sentinel to know the replica and the other sentinels",
    async () => {
      for (const s of sentinelClients) {
        const m = (await s.call("SENTINEL", "master", MASTER_NAME)) as string[];
        const field = (k: string) => Number(m[m.indexOf(k) + 1]);
        if (field("num-slaves") < 1 || field("num-other-sentinels") < 2) return false;
      }
      return true;
    },
    15_000,
  );

  const byPort = (port: number) => data.find((d) => d.port === port);
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${MASTER_NAME}`,
    data,
    sentinels,
    primaryPort,
    client,
    inSync: async () => waitInSync(client(await primaryPort())),
    detach: (port) => detachReplica(client(port)),
    kill: (port) => killProcess(byPort(port)?.proc),
    promoted: async (oldPort, ms = 20_000) => {
      let port = oldPort;
      await until(
        "the sentinels to promote a replica",
        async () => {
          port = await primaryPort().catch(() => oldPort);
          if (port === oldPort) return false;
          return (await info(port).catch(() => ({}) as Record<string, string>))["role"] === "master";
        },
        ms,
      );
      return port;
    },
    close: () => stopAll(children, clients, dir),
  };
}
