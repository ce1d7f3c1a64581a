import assert from "node:assert/strict";
import { startRedisCluster } from "../helpers/redis-cluster.js";
import { redisKeys } from "../../src/store/redis/scripts.js";
import { passed } from "./harness/checker.js";
import { failoverRow, type FailoverDeployment, type FailoverPlan } from "./harness/failover-row.js";

/** A key of the registry: it names the slot every script runs on. */
const SLOT_KEY = redisKeys("ha").revision;

/** Three primaries with one replica each; the nodes on a URL naming all six; the slot's primary is the one that fails. */
async function cluster(): Promise<FailoverDeployment> {
  const c = await startRedisCluster();
  return {
    url: c.url,
    primary: () => c.primaryOf(SLOT_KEY),
    replicaOf: (primary) => c.replicaOf(primary),
    client: (port) => c.client(port),
    inSync: (primary) => c.inSync(primary),
    detach: (replica) => c.detach(replica),
    kill: (port) => c.kill(port),
    promoted: (old) => c.promoted(SLOT_KEY, old),
    // A replica answers reads of its slots only after READONLY (else MOVED).
    readable: async (replica) => void (await c.client(replica).call("READONLY")),
    close: () => c.close(),
  };
}

const row = (name: string, plan: FailoverPlan) => failoverRow(name, cluster, plan);

describe("Faults with Redis Cluster (SEMANTICS 4.2, 7.2)", function () {
  it("7.2 the primary of the registry's slot SIGKILLed with its replica in sync, three nodes, 200 instances, churn, 12 watchers: nodes follow the promotion, 0 gaps, 0 duplicates, 0 false expiries, no RESET, every node equal to the new primary", async () => {
    const r = await row("cluster-failover-in-sync", { lagMs: 0 });
    assert.equal(r.lostChanges, 0);
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.equal(r.report.resets, 0, "nothing was lost, so no watcher may be reset");
    assert.equal(r.eras, 1, "the counter's jump on the promoted replica starts from the last revision served");
  });

  it("4.2, 7.2 the primary of the registry's slot SIGKILLed while its replica lags 3 s: every watcher gets RESET, no revision reaches two watchers with different content, 0 false expiries, every node equal to the new primary", async () => {
    const r = await row("cluster-failover-lagging", { lagMs: 3000 });
    assert.ok(r.lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.equal(r.report.resets, r.report.watchers, "every watcher is reset for the lost changes");
    assert.equal(r.eras, 2, "the promoted replica's stream jumps from below what the old primary served");
  });

  it("7.2 the lagging Cluster failover when the node that reaches the new primary first had applied less than the replica: no revision reaches two watchers with different content, that node's watchers go on without RESET, every other watcher gets RESET", async () => {
    const r = await row("cluster-failover-lagging-slow-node-first", { lagMs: 3000, slowNodeFirst: true });
    assert.ok(r.lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.equal(r.report.foreign, 0, "a revision reused with other content reached a watcher");
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.deepEqual(r.reloaded, [true, true, false], "only the nodes that applied the lost changes reload");
    assert.equal(r.report.resets, 8, "the 8 watchers on the nodes that applied the lost changes are reset, the 4 on the slow node are not");
  });
});
