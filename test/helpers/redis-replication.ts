/**
 * What the Sentinel and Cluster harnesses share: reading replication state,
 * waiting for replicas to catch up, making one lag, and killing processes.
 */
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import type { Redis } from "ioredis";
import { killProcess } from "./kill-process.js";
import { until } from "./server.js";

export { killProcess };

/** `key:value` lines (INFO, CLUSTER INFO) as a record. */
export function infoFields(text: string): Record<string, string> {
  return Object.fromEntries(text.split("\r\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]));
}

/** INFO replication of a node. */
export async function replicationInfo(r: Redis): Promise<Record<string, string>> {
  return infoFields(await r.info("replication"));
}

/**
 * Waits until every replica of `primary` has acknowledged everything the
 * primary had written when this was called. The target is fixed at the call:
 * under steady writes the primary's offset moves on between replica acks
 * (sent once a second), so "acked the current offset" may never be seen.
 */
export async function waitInSync(primary: Redis): Promise<void> {
  const target = Number((await replicationInfo(primary))["master_repl_offset"]);
  await until(
    "every replica to acknowledge the primary's offset",
    async () => {
      const replicas = Object.entries(await replicationInfo(primary)).filter(([k]) => /^slave\d+$/.test(k));
      return replicas.length > 0 && replicas.every(([, v]) => Number(/offset=(\d+)/.exec(v)?.[1]) >= target);
    },
    10_000,
  );
}

/**
 * Cuts a replica off its primary so it lags while the primary goes on: a
 * wrong `masterauth` makes every resync fail, yet the replica stays listed
 * (sentinels still count it, a cluster can still promote it).
 */
export async function detachReplica(replica: Redis): Promise<void> {
  await replica.config("SET", "masterauth", "not-the-password");
  await replica.call("CLIENT", "KILL", "TYPE", "master");
  await until("the replica's link to go down", async () => (await replicationInfo(replica))["master_link_status"] === "down", 5000);
}

/** Disconnects the clients, kills every process and removes the harness's directory. */
export async function stopAll(children: readonly ChildProcess[], clients: Iterable<Redis>, dir: string): Promise<void> {
  for (const c of clients) c.disconnect();
  await Promise.all(children.map(killProcess));
  rmSync(dir, { recursive: true, force: true });
}
