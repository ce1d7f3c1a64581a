import assert from "node:assert/strict";
import { startRedisCluster, type TestCluster } from "../helpers/redis-cluster.js";
import { clientFor, sleep, until } from "../helpers/server.js";
import { passed } from "./harness/checker.js";
import { aliveMap, quiesce, verdict } from "./harness/fleet.js";
import { churn, resyncAt } from "./harness/failover.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { decodeRecord } from "../../src/store/redis/codec.js";
import { redisKeys } from "../../src/store/redis/scripts.js";
import { RedisTruth } from "./harness/redis-truth.js";
import { record, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;
const INSTANCES = 200;
const PREFIX = "ha";
/** A key of the registry: it names the slot every script runs on. */
const SLOT_KEY = redisKeys(PREFIX).revision;

describe("Faults with Redis Cluster (SEMANTICS 4.2, 7.2)", function () {
  let cluster: TestCluster | undefined;
  let nodes: RosterNode[] = [];
  let load: Child | undefined;
  let truth: RedisTruth | undefined;
  let recorders: Recorder[] = [];

  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.finish().catch(() => {});
    await load?.kill();
    load = undefined;
    await Promise.all(nodes.splice(0).map((n) => n.kill()));
    await truth?.close();
    truth = undefined;
    await cluster?.close();
    cluster = undefined;
  });

  /** Every node's Resolve of `pay`, and the new primary's, as sorted `id@modRevision` lists. */
  async function views(c: TestCluster, primary: number): Promise<{ nodes: string[]; primary: string }> {
    const seen = await Promise.all(
      nodes.map(async (n) => {
        const r = await clientFor(n.url).resolve({ service: "pay", allStatuses: true });
        return r.instances.map((i) => `${i.id}@${i.modRevision}`).sort().join(",");
      }),
    );
    const held = Object.values(await c.client(primary).hgetall(redisKeys(PREFIX).instances))
      .map(decodeRecord)
      .filter((r) => r.service === "pay")
      .map((r) => `${r.id}@${r.modRevision}`)
      .sort()
      .join(",");
    return { nodes: seen, primary: held };
  }

  /** Three nodes on the cluster URL, the fleet, 12 watchers (4 per node), churn; the truth reads the slot's primary. */
  async function fleet(c: TestCluster): Promise<{ from: number; writes: ReturnType<typeof churn>; old: number }> {
    nodes = await Promise.all(Array.from({ length: 3 }, () => spawnRoster({ store: c.url, "redis-prefix": PREFIX, "min-ttl-ms": 1000 })));
    const old = await c.primaryOf(SLOT_KEY);
    truth = new RedisTruth(old, PREFIX);
    const from = Date.now();
    load = await spawnLoad({ registry: nodes.map((n) => n.url), service: "pay", count: INSTANCES, ttlMs: TTL });
    recorders = Array.from({ length: 12 }, (_, i) => record(`w${i}-node${i % 3}`, clientFor(nodes[i % 3]!.url), "pay"));
    return { from, writes: churn(nodes), old };
  }

  /**
   * The fleet for 2 s, then (with `lagMs`) the replica of the slot's primary cut off for that long while writes go on;
   * writes held on the primary (`CLIENT PAUSE`, so the truth has everything it acknowledged), the primary SIGKILLed,
   * the truth following the promoted replica. With a lag, the truth starts a new era, keeping the replica's history,
   * when the first node finds the loss and reloads.
   */
  async function failover(row: string, lagMs: number) {
    cluster = await startRedisCluster();
    const c = cluster;
    const { from, writes, old } = await fleet(c);
    await sleep(2000);
    const replica = await c.replicaOf(old);
    if (lagMs > 0) {
      await c.inSync(old);
      await c.detach(replica);
      await sleep(lagMs);
    }
    await c.client(old).call("CLIENT", "PAUSE", "10000", "WRITE");
    if (lagMs === 0) await c.inSync(old);
    await truth!.settle();
    await c.client(replica).call("READONLY"); // a replica answers reads of its slots only after READONLY (else MOVED)
    const [primaryRev, replicaRev] = await Promise.all([c.client(old).get(SLOT_KEY), c.client(replica).get(SLOT_KEY)]);
    const lostChanges = truth!.truth.eras[0]!.changes.filter((ch) => ch.revision > BigInt(replicaRev ?? "0")).length;
    const killedAt = Date.now();
    await c.kill(old);
    const primary = await c.promoted(SLOT_KEY, old);
    const promotedMs = Date.now() - killedAt;
    await truth!.follow(primary);
    let reload = "";
    if (lagMs > 0) {
      await until("some node to find the loss and reload", () => nodes.some((nd) => resyncAt(nd, killedAt) !== undefined), 20_000);
      reload = ` firstReloadAfterMs=${Math.min(...nodes.map((nd) => resyncAt(nd, killedAt) ?? Infinity)) - killedAt}`;
    }
    await sleep(TTL);
    const { outageMs, writes: n } = await writes.stop();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 1500);
    await truth!.settle();
    const seen = await views(c, primary);
    const report = await verdict(
      row,
      recorders.splice(0),
      () => truth!.truth,
      aliveMap("pay", INSTANCES, from, Date.now()),
      `primaryRev=${primaryRev} replicaRev=${replicaRev} lostChanges=${lostChanges} promotedAfterMs=${promotedMs}${reload} writeOutageMs=${outageMs} writes=${n}`,
    );
    assert.ok(n > 0 && outageMs > 0, "the churn must have written on both sides of the failover");
    for (const v of seen.nodes) assert.equal(v, seen.primary, "every node's view is what the new primary holds");
    assert.equal(truth!.truth.eras.length, lagMs > 0 ? 2 : 1, "the promoted replica's stream jumps from below what was served exactly when it lags");
    return { report, lostChanges };
  }

  it("7.2 the primary of the registry's slot SIGKILLed with its replica in sync, three nodes, 200 instances, churn, 12 watchers: nodes follow the promotion, 0 gaps, 0 duplicates, 0 false expiries, no RESET, every node equal to the new primary", async () => {
    const { report, lostChanges } = await failover("cluster-failover-in-sync", 0);
    assert.equal(lostChanges, 0);
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(report.resets, 0, "nothing was lost, so no watcher may be reset");
  });

  it("4.2, 7.2 the primary of the registry's slot SIGKILLed while its replica lags 3 s: every watcher gets RESET, no revision reaches two watchers with different content, 0 false expiries, every node equal to the new primary", async () => {
    const { report, lostChanges } = await failover("cluster-failover-lagging", 3000);
    assert.ok(lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(report.resets, report.watchers, "every watcher is reset for the lost changes");
  });
});
