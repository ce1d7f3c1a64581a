import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { detachReplica, infoFields, killProcess, replicationInfo, stopAll, waitInSync } from "./redis-replication.js";
import { freePort, until } from "./server.js";

const run = promisify(execFile);

/** One redis-server of a test cluster. */
export interface ClusterNodeProcess {
  readonly port: number;
  readonly proc: ChildProcess;
}

/** A real Redis Cluster of three primaries with one replica each, on free loopback ports. */
export interface TestCluster {
  /** `redis+cluster://` naming every node. */
  readonly url: string;
  readonly nodes: readonly ClusterNodeProcess[];
  /** The port of the primary that owns the slot of `key` now, as the surviving nodes see it. */
  primaryOf(key: string): Promise<number>;
  /** The port of the replica of the primary on `port`. */
  replicaOf(port: number): Promise<number>;
  /** A plain (non-cluster) connection to one node, for the test's own reads and commands. */
  client(port: number): Redis;
  /** Waits until every replica of the primary on `port` has acknowledged its whole replication stream. */
  inSync(port: number): Promise<void>;
  /**
   * Cuts the replica on `port` off its primary so it lags from now on: a wrong
   * `masterauth` and a killed link, so every reconnect fails its handshake
   * while the cluster still counts it as the primary's replica, eligible for
   * promotion (its data is younger than cluster-replica-validity-factor x node timeout).
   */
  detach(port: number): Promise<void>;
  /** SIGKILLs the node on `port` and waits for its exit. */
  kill(port: number): Promise<void>;
  /** Waits until a node other than `oldPort` owns the slot of `key` as a primary and the cluster is ok again; returns its port. */
  promoted(key: string, oldPort: number, ms?: number): Promise<number>;
  /** Stops every node and removes the directory. */
  close(): Promise<void>;
}

/**
 * Starts six `redis-server --cluster-enabled yes` nodes (each with its own
 * bus port, `cluster-port`) and joins them with `redis-cli --cluster create
 * --cluster-replicas 1`: three primaries, one replica each. Failure detection
 * is shortened (`cluster-node-timeout` 1 s) so a failover ends in seconds;
 * persistence is off, so a killed node keeps nothing and only replication
 * carries the data across.
 */
export async function startRedisCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "roster-cluster-"));
  const children: ChildProcess[] = [];
  const clients = new Map<number, Redis>();
  const client = (port: number): Redis => {
    let r = clients.get(port);
    if (r === undefined) {
      r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => null });
      r.on("error", () => {});
      clients.set(port, r);
    }
    return r;
  };
  const nodes: ClusterNodeProcess[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      const busPort = await freePort();
      const args = [
        "--port", String(port), "--cluster-port", String(busPort), "--bind", "127.0.0.1",
        "--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "1000",
        "--dir", dir, "--dbfilename", `dump-${port}.rdb`, "--save", "", "--appendonly", "no",
        "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
      ];
      const proc = spawn("redis-server", args, { stdio: "ignore" });
      children.push(proc);
      nodes.push({ port, proc });
    }
    for (const n of nodes) await until(`cluster node ${n.port} to answer`, () => ping(n.port), 5000);
    await run("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"], { timeout: 30_000 });
    await until(
      "every node to see the cluster ok with six nodes and every replica linked",
      async () => {
        for (const n of nodes) {
          const i = infoFields(await client(n.port).cluster("INFO").catch(() => ""));
          if (i["cluster_state"] !== "ok" || i["cluster_known_nodes"] !== "6") return false;
          const r = infoFields(await client(n.port).info("replication"));
          if (r["role"] === "slave" && r["master_link_status"] !== "up") return false;
        }
        return true;
      },
      20_000,
    );
  } catch (e) {
    await stopAll(children, clients.values(), dir);
    throw e;
  }

  const alive = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
  const info = (port: number) => replicationInfo(client(port));
  const primaryOf = async (key: string): Promise<number> => {
    for (const n of alive()) {
      const c = client(n.port);
      const slot = (await c.cluster("KEYSLOT", key).catch(() => null)) as number | null;
      const ranges = (await c.cluster("SLOTS").catch(() => null)) as [number, number, [string, number, ...unknown[]], ...unknown[]][] | null;
      if (slot === null || ranges === null) continue;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range !== undefined) return Number(range[2][1]);
    }
    throw new Error(`no node names the owner of the slot of ${key}`);
  };
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    nodes,
    primaryOf,
    client,
    replicaOf: async (port) => {
      const replica = Object.entries(await info(port)).find(([k]) => /^slave\d+$/.test(k))?.[1];
      const p = /port=(\d+)/.exec(replica ?? "")?.[1];
      if (p === undefined) throw new Error(`the primary on ${port} has no replica`);
      return Number(p);
    },
    inSync: (port) => waitInSync(client(port)),
    detach: (port) => detachReplica(client(port)),
    kill: (port) => killProcess(nodes.find((n) => n.port === port)?.proc),
    promoted: async (key, oldPort, ms = 20_000) => {
      let port = oldPort;
      await until(
        "the cluster to promote a replica",
        async () => {
          port = await primaryOf(key).catch(() => oldPort);
          if (port === oldPort) return false;
          const state = infoFields(await client(port).cluster("INFO").catch(() => ""))["cluster_state"];
          return state === "ok" && (await info(port).catch(() => ({}) as Record<string, string>))["role"] === "master";
        },
        ms,
      );
      return port;
    },
    close: () => stopAll(children, clients.values(), dir),
  };
}

async function ping(port: number): Promise<boolean> {
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
}
