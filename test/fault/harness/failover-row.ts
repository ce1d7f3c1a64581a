/**
 * One Redis failover row, the same for Sentinel and for Cluster: three Roster
 * nodes on the deployment's URL, 200 instances heartbeating at TTL 3 s, churn,
 * 12 watchers (4 per node); the replica kept in sync or cut off for a while;
 * the primary SIGKILLed; the fault checker's verdict against the stream of
 * the primary of the moment. The deployment adapter is all that differs.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { clientFor, sleep, until } from "../../helpers/server.js";
import { decodeRecord } from "../../../src/store/redis/codec.js";
import { redisKeys } from "../../../src/store/redis/scripts.js";
import type { CheckReport } from "./checker.js";
import { churn, resyncAt } from "./failover.js";
import { aliveMap, quiesce, verdict } from "./fleet.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./processes.js";
import { RedisTruth } from "./redis-truth.js";
import { record, type Recorder } from "./watch-recorder.js";

const TTL = 3000;
const INSTANCES = 200;
const PREFIX = "ha";
const KEYS = redisKeys(PREFIX);

/** A Redis deployment that fails over (Sentinel or Cluster), as a failover row drives it. */
export interface FailoverDeployment {
  /** The store URL the Roster nodes start on. */
  readonly url: string;
  /** The port of the primary that holds the registry now. */
  primary(): Promise<number>;
  /** The port of `primary`'s replica. */
  replicaOf(primary: number): Promise<number>;
  client(port: number): Redis;
  /** Resolves once `primary`'s replica has everything it wrote. */
  inSync(primary: number): Promise<void>;
  /** Cuts `replica`'s replication link while the primary goes on. */
  detach(replica: number): Promise<void>;
  kill(port: number): Promise<void>;
  /** The port of the replica promoted in place of `old`, once the deployment says so. */
  promoted(old: number): Promise<number>;
  /** Makes `replica` answer reads of the registry's keys (a Cluster replica needs READONLY). */
  readable?(replica: number): Promise<void>;
  close(): Promise<void>;
}

/** What happens to the replica and the nodes around the kill. */
export interface FailoverPlan {
  /** How long the replica is cut off before the primary is killed; 0 keeps it in sync. */
  readonly lagMs: number;
  /**
   * Node 2 is stopped from before the lag until after the promotion, so it
   * applied less than the replica holds, then runs alone for 3 s (nodes 0 and
   * 1, which applied the lost changes, stopped) and reaches the new primary first.
   */
  readonly slowNodeFirst?: boolean;
  /** Sets Redis's `min-replicas-to-write 1` with this `min-replicas-max-lag` (s) on the primary before the lag. */
  readonly minReplicasMaxLagS?: number;
}

/** The figures and the verdict of a row. */
export interface FailoverOutcome {
  readonly report: CheckReport;
  /** Changes the old primary acknowledged that its replica never had. */
  readonly lostChanges: number;
  /** Eras of the truth: 2 when the promoted replica's history jumps from below what was served. */
  readonly eras: number;
  readonly outageMs: number;
  /** Which nodes reloaded their view after the kill. */
  readonly reloaded: readonly boolean[];
}

/**
 * Runs one row on the deployment `start` gives, and tears everything down.
 * Asserts what holds in every row: the churn wrote on both sides of the
 * failover, and every node's view ends equal to what the new primary holds.
 */
export async function failoverRow(row: string, start: () => Promise<FailoverDeployment>, plan: FailoverPlan): Promise<FailoverOutcome> {
  const d = await start();
  let nodes: RosterNode[] = [];
  let load: Child | undefined;
  let recorders: Recorder[] = [];
  let truth: RedisTruth | undefined;
  try {
    nodes = await Promise.all(Array.from({ length: 3 }, () => spawnRoster({ store: d.url, "redis-prefix": PREFIX, "min-ttl-ms": 1000 })));
    const old = await d.primary();
    truth = new RedisTruth(old, PREFIX);
    const from = Date.now();
    load = await spawnLoad({ registry: nodes.map((n) => n.url), service: "pay", count: INSTANCES, ttlMs: TTL });
    recorders = Array.from({ length: 12 }, (_, i) => record(`w${i}-node${i % 3}`, clientFor(nodes[i % 3]!.url), "pay"));
    const writes = churn(nodes);
    await sleep(2000);
    const replica = await d.replicaOf(old);
    if (plan.lagMs > 0) {
      await d.inSync(old);
      if (plan.minReplicasMaxLagS !== undefined) await d.client(old).config("SET", "min-replicas-to-write", "1", "min-replicas-max-lag", String(plan.minReplicasMaxLagS));
      if (plan.slowNodeFirst) nodes[2]!.stop();
      await d.detach(replica);
      await sleep(plan.lagMs);
    }
    // Writes held from here to the kill, so the truth reads everything the old primary acknowledged before it dies.
    await d.client(old).call("CLIENT", "PAUSE", "10000", "WRITE");
    if (plan.lagMs === 0) await d.inSync(old);
    await truth.settle();
    await d.readable?.(replica);
    const [primaryRev, replicaRev] = await Promise.all([d.client(old).get(KEYS.revision), d.client(replica).get(KEYS.revision)]);
    const lostChanges = truth.truth.eras[0]!.changes.filter((c) => c.revision > BigInt(replicaRev ?? "0")).length;
    const killedAt = Date.now();
    await d.kill(old);
    const primary = await d.promoted(old);
    const promotedMs = Date.now() - killedAt;
    if (plan.slowNodeFirst) {
      nodes[0]!.stop();
      nodes[1]!.stop();
      nodes[2]!.cont();
      await sleep(3000);
      nodes[0]!.cont();
      nodes[1]!.cont();
    }
    // The truth reads on in the promoted replica's stream; a jump there from below what was served starts a new era.
    await truth.follow(primary);
    let reload = "";
    if (lostChanges > 0) {
      await until("some node to find the loss and reload", () => nodes.some((n) => resyncAt(n, killedAt) !== undefined), 20_000);
      reload = ` firstReloadAfterMs=${Math.min(...nodes.map((n) => resyncAt(n, killedAt) ?? Infinity)) - killedAt}`;
    }
    await sleep(TTL);
    const { outageMs, writes: n } = await writes.stop();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 1500);
    await truth.settle();
    const held = await view(d.client(primary));
    const seen = await Promise.all(nodes.map((node) => resolved(node.url)));
    const report = await verdict(
      row,
      recorders.splice(0),
      () => truth!.truth,
      aliveMap("pay", INSTANCES, from, Date.now()),
      `primaryRev=${primaryRev} replicaRev=${replicaRev} lostChanges=${lostChanges} promotedAfterMs=${promotedMs}${reload} writeOutageMs=${outageMs} writes=${n}`,
    );
    assert.ok(n > 0 && outageMs > 0, "the churn must have written on both sides of the failover");
    for (const v of seen) assert.equal(v, held, "every node's view is what the new primary holds");
    return { report, lostChanges, eras: truth.truth.eras.length, outageMs, reloaded: nodes.map((node) => resyncAt(node, killedAt) !== undefined) };
  } finally {
    for (const r of recorders) await r.finish().catch(() => {});
    await load?.kill();
    await Promise.all(nodes.map((n) => n.kill()));
    await truth?.close();
    await d.close();
  }
}

/** A node's Resolve of `pay`, as a sorted `id@modRevision` list. */
async function resolved(url: string): Promise<string> {
  const r = await clientFor(url).resolve({ service: "pay", allStatuses: true });
  return r.instances.map((i) => `${i.id}@${i.modRevision}`).sort().join(",");
}

/** The same list from what Redis holds. */
async function view(redis: Redis): Promise<string> {
  return Object.values(await redis.hgetall(KEYS.instances))
    .map(decodeRecord)
    .filter((r) => r.service === "pay")
    .map((r) => `${r.id}@${r.modRevision}`)
    .sort()
    .join(",");
}
