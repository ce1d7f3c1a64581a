import assert from "node:assert/strict";
import { startSentinelSet, type TestSentinelSet } from "../helpers/redis-sentinel.js";
import { clientFor, sleep } from "../helpers/server.js";
import { passed } from "./harness/checker.js";
import { aliveMap, quiesce, verdict } from "./harness/fleet.js";
import { spawnLoad, spawnRoster, type Child, type RosterNode } from "./harness/processes.js";
import { RedisTruth } from "./harness/redis-truth.js";
import { record, type Recorder } from "./harness/watch-recorder.js";

const TTL = 3000;
const INSTANCES = 200;

/**
 * Registers and deregisters `churn-N` instances of `pay` through the nodes in
 * turn until stopped, ignoring refusals (writes fail during a failover), and
 * measures the write outage: the longest run of failed writes.
 */
function churn(nodes: RosterNode[]): { stop(): Promise<{ outageMs: number; writes: number }> } {
  const clients = nodes.map((n) => clientFor(n.url));
  let stopped = false;
  let outageMs = 0;
  let writes = 0;
  let failingSince: number | undefined;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const c = clients[n % clients.length]!;
      try {
        await c.register({ service: "pay", id: `churn-${n % 20}`, host: "10.0.0.9", port: 1 + (n % 20) }, { timeoutMs: 1000 });
        if (n % 20 >= 10) await c.deregister({ service: "pay", id: `churn-${(n % 20) - 10}` }, { timeoutMs: 1000 });
        writes++;
        if (failingSince !== undefined) outageMs = Math.max(outageMs, Date.now() - failingSince);
        failingSince = undefined;
      } catch {
        failingSince ??= Date.now();
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

describe("Faults with Redis behind Sentinel (SEMANTICS 4.2, 7.2)", function () {
  let set: TestSentinelSet | undefined;
  let nodes: RosterNode[] = [];
  let load: Child | undefined;
  let truth: RedisTruth | undefined;
  let recorders: Recorder[] = [];
  let relay: { close(): Promise<void> } | undefined;

  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.finish().catch(() => {});
    await load?.kill();
    load = undefined;
    await Promise.all(nodes.splice(0).map((n) => n.kill()));
    await truth?.close();
    truth = undefined;
    await relay?.close();
    relay = undefined;
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
    assert.equal(new Set(seen).size, 1, "every node ends with the same view");
  });
});
