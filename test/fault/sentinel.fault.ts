import assert from "node:assert/strict";
import { startSentinelSet, type TestSentinelSet } from "../helpers/redis-sentinel.js";
import { clientFor, sleep, until } from "../helpers/server.js";
import { passed } from "./harness/checker.js";
import { aliveMap, quiesce, verdict } from "./harness/fleet.js";
import { churn, resyncAt } from "./harness/failover.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { redisKeys } from "../../src/store/redis/scripts.js";
import { RedisTruth } from "./harness/redis-truth.js";
import { record, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;
const INSTANCES = 200;

describe("Faults with Redis behind Sentinel (SEMANTICS 4.2, 7.2)", function () {
  let set: TestSentinelSet | undefined;
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
    await set?.close();
    set = undefined;
  });

  /** Three nodes on the Sentinel URL (all three sentinels), the fleet, 12 watchers (4 per node), churn. */
  async function fleet(s: TestSentinelSet): Promise<{ from: number; writes: ReturnType<typeof churn> }> {
    nodes = await Promise.all(Array.from({ length: 3 }, () => spawnRoster({ store: s.url, "redis-prefix": "ha", "min-ttl-ms": 1000 })));
    truth = new RedisTruth(await s.primaryPort(), "ha");
    const from = Date.now();
    load = await spawnLoad({ registry: nodes.map((n) => n.url), service: "pay", count: INSTANCES, ttlMs: TTL });
    recorders = Array.from({ length: 12 }, (_, i) => record(`w${i}-node${i % 3}`, clientFor(nodes[i % 3]!.url), "pay"));
    return { from, writes: churn(nodes) };
  }

  /** Resolve on every node, as `key@modRevision` sorted, and the same from the new primary's truth. */
  async function views(): Promise<string[]> {
    return Promise.all(
      nodes.map(async (n) => {
        const r = await clientFor(n.url).resolve({ service: "pay", allStatuses: true });
        return r.instances.map((i) => `${i.id}@${i.modRevision}`).sort().join(",");
      }),
    );
  }

  it("7.2 primary SIGKILLed with the replica in sync, three nodes on three sentinels, 200 instances, churn, 12 watchers: nodes follow the failover, 0 gaps, 0 duplicates, 0 false expiries, no RESET, every node equal to the new primary", async () => {
    set = await startSentinelSet();
    const { from, writes } = await fleet(set);
    await sleep(2000);
    const old = await set.primaryPort();
    // Writes held from here to the kill: the truth reads everything the old primary acknowledged before it dies.
    await set.client(old).call("CLIENT", "PAUSE", "10000", "WRITE");
    await set.inSync();
    await truth!.settle();
    const killedAt = Date.now();
    await set.kill(old);
    const primary = await set.promoted(old);
    const promotedMs = Date.now() - killedAt;
    await truth!.follow(primary);
    await sleep(TTL);
    const { outageMs, writes: n } = await writes.stop();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 1500);
    await truth!.settle();
    const seen = await views();
    const report = await verdict("sentinel-failover-in-sync", recorders.splice(0), () => truth!.truth, aliveMap("pay", INSTANCES, from, Date.now()), `promotedAfterMs=${promotedMs} writeOutageMs=${outageMs} writes=${n}`);
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(report.resets, 0, "nothing was lost, so no watcher may be reset");
    assert.equal(truth!.truth.eras.length, 1, "the counter's jump on the promoted replica starts from the last revision served");
    assert.equal(new Set(seen).size, 1, "every node ends with the same view");
  });

  /**
   * Lets the replica lag 3 s behind while the fleet and the churn go on, then SIGKILLs the primary; the truth
   * follows the promoted replica and starts a new era (keeping the replica's history) once a node reloads.
   */
  async function laggingFailover(row: string, hooks: { beforeLag?: () => Promise<void>; afterPromotion?: () => Promise<void> } = {}) {
    set = await startSentinelSet();
    const { from, writes } = await fleet(set);
    const keys = redisKeys("ha");
    await sleep(2000);
    const old = await set.primaryPort();
    const replica = set.data.find((d) => d.port !== old)!.port;
    await set.inSync();
    await hooks.beforeLag?.();
    await set.detach(replica);
    await sleep(3000);
    // As above: nothing the old primary acknowledges after the truth's last read.
    await set.client(old).call("CLIENT", "PAUSE", "10000", "WRITE");
    await truth!.settle();
    const [primaryRev, replicaRev] = await Promise.all([set.client(old).get(keys.revision), set.client(replica).get(keys.revision)]);
    const lostChanges = truth!.truth.eras[0]!.changes.filter((c) => c.revision > BigInt(replicaRev ?? "0")).length;
    const killedAt = Date.now();
    await set.kill(old);
    const primary = await set.promoted(old);
    const promotedMs = Date.now() - killedAt;
    await hooks.afterPromotion?.();
    // The truth reads on in the promoted replica's stream; the jump written there starts its new era.
    await truth!.follow(primary);
    await until("some node to find the loss and reload", () => nodes.some((nd) => resyncAt(nd, killedAt) !== undefined), 20_000);
    const rebasedMs = Math.min(...nodes.map((nd) => resyncAt(nd, killedAt) ?? Infinity)) - killedAt;
    await sleep(TTL);
    const { outageMs, writes: n } = await writes.stop();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 1500);
    await truth!.settle();
    const seen = await views();
    const report = await verdict(
      row,
      recorders.splice(0),
      () => truth!.truth,
      aliveMap("pay", INSTANCES, from, Date.now()),
      `primaryRev=${primaryRev} replicaRev=${replicaRev} lostChanges=${lostChanges} promotedAfterMs=${promotedMs} firstReloadAfterMs=${rebasedMs} writeOutageMs=${outageMs} writes=${n}`,
    );
    assert.equal(truth!.truth.eras.length, 2, "the promoted replica's stream jumps from below what the old primary served");
    return { report, lostChanges, seen, killedAt };
  }

  it("4.2, 7.2 primary SIGKILLed while the replica lags 3 s: every watcher gets RESET, no revision reaches two watchers with different content, 0 false expiries, every node equal to the new primary", async () => {
    const { report, lostChanges, seen } = await laggingFailover("sentinel-failover-lagging");
    assert.ok(lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(report.resets, report.watchers, "every watcher is reset for the lost changes");
    assert.equal(new Set(seen).size, 1, "every node ends with the same view");
  });

  it("7.2 the lagging failover when the node that reaches the new primary first had applied less than the replica: revisions jump above every one served, no revision reaches two watchers with different content, that node's watchers go on without RESET, every other watcher gets RESET", async () => {
    // Node 2 is stopped before the lag starts, so it applied less than the replica holds; after the promotion it
    // runs alone for 3 s (nodes 0 and 1, which applied the lost changes, stay stopped) and writes on the new primary.
    const { report, lostChanges, seen, killedAt } = await laggingFailover("sentinel-failover-lagging-slow-node-first", {
      beforeLag: async () => nodes[2]!.stop(),
      afterPromotion: async () => {
        nodes[0]!.stop();
        nodes[1]!.stop();
        nodes[2]!.cont();
        await sleep(3000);
        nodes[0]!.cont();
        nodes[1]!.cont();
      },
    });
    assert.ok(lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.equal(report.foreign, 0, "a revision reused with other content reached a watcher");
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(resyncAt(nodes[2]!, killedAt), undefined, "the node that applied less than the replica lost nothing: no reload");
    assert.equal(report.resets, 8, "the 8 watchers on the nodes that applied the lost changes are reset, the 4 on the slow node are not");
    assert.equal(new Set(seen).size, 1, "every node ends with the same view");
  });
});
