import assert from "node:assert/strict";
import { startRedisCluster, type TestCluster } from "../helpers/redis-cluster.js";
import { clientFor, sleep } from "../helpers/server.js";
import { passed } from "./harness/checker.js";
import { aliveMap, quiesce, verdict } from "./harness/fleet.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { decodeRecord } from "../../src/store/redis/codec.js";
import { redisKeys } from "../../src/store/redis/scripts.js";
import { RedisTruth } from "./harness/redis-truth.js";
import { record, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;
const INSTANCES = 200;
const PREFIX = "ha";

/**
 * Writes through the nodes in turn until stopped, ignoring refusals (writes
 * fail during a failover): a Register, and a Deregister of one registered
 * earlier, so instances come and go. Measures the write outage: the longest
 * time from the first refused write of a run to the next accepted one.
 */
function churn(nodes: RosterNode[]): { stop(): Promise<{ outageMs: number; writes: number }> } {
  const clients = nodes.map((n) => clientFor(n.url));
  let stopped = false;
  let outageMs = 0;
  let writes = 0;
  let refusedSince: number | undefined;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const c = clients[n % clients.length]!;
      const slot = n % 20;
      try {
        if (slot < 10) await c.register({ service: "pay", id: `churn-${slot}`, host: "10.0.0.9", port: 1 + slot }, { timeoutMs: 1000 });
        else await c.deregister({ service: "pay", id: `churn-${slot - 10}` }, { timeoutMs: 1000 });
        writes++;
        if (refusedSince !== undefined) outageMs = Math.max(outageMs, Date.now() - refusedSince);
        refusedSince = undefined;
      } catch {
        refusedSince ??= Date.now();
      }
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { outageMs, writes };
    },
  };
}

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

  it("7.2 the primary of the registry's slot SIGKILLed with its replica in sync, three nodes, 200 instances, churn, 12 watchers: nodes follow the promotion, 0 gaps, 0 duplicates, 0 false expiries, no RESET, every node equal to the new primary", async () => {
    cluster = await startRedisCluster();
    const slotKey = redisKeys(PREFIX).revision;
    nodes = await Promise.all(Array.from({ length: 3 }, () => spawnRoster({ store: cluster!.url, "redis-prefix": PREFIX, "min-ttl-ms": 1000 })));
    const old = await cluster.primaryOf(slotKey);
    truth = new RedisTruth(old, PREFIX);
    const from = Date.now();
    load = await spawnLoad({ registry: nodes.map((n) => n.url), service: "pay", count: INSTANCES, ttlMs: TTL });
    recorders = Array.from({ length: 12 }, (_, i) => record(`w${i}-node${i % 3}`, clientFor(nodes[i % 3]!.url), "pay"));
    const writes = churn(nodes);
    await sleep(2000);
    // Writes held from here to the kill: the truth reads everything the old primary acknowledged before it dies,
    // and the replica has all of it (an acknowledged write the replica lacks is the lagging case, a loss).
    await cluster.client(old).call("CLIENT", "PAUSE", "10000", "WRITE");
    await cluster.inSync(old);
    await truth.settle();
    const killedAt = Date.now();
    await cluster.kill(old);
    const primary = await cluster.promoted(slotKey, old);
    const promotedMs = Date.now() - killedAt;
    await truth.follow(primary);
    await sleep(TTL);
    const { outageMs, writes: n } = await writes.stop();
    await quiesce(() => truth!.truth.eras.at(-1)!.changes.length, 1500);
    await truth.settle();
    const seen = await views(cluster, primary);
    const report = await verdict("cluster-failover-in-sync", recorders.splice(0), () => truth!.truth, aliveMap("pay", INSTANCES, from, Date.now()), `promotedAfterMs=${promotedMs} writeOutageMs=${outageMs} writes=${n}`);
    assert.ok(passed(report), report.notes.join("\n"));
    assert.equal(report.resets, 0, "nothing was lost, so no watcher may be reset");
    assert.ok(n > 0 && outageMs > 0, "the churn must have written on both sides of the failover");
    for (const v of seen.nodes) assert.equal(v, seen.primary, "every node's view is what the new primary holds");
  });
});
