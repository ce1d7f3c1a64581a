import assert from "node:assert/strict";
import { startSentinelSet } from "../helpers/redis-sentinel.js";
import { passed } from "./harness/checker.js";
import { failoverRow, type FailoverDeployment, type FailoverPlan } from "./harness/failover-row.js";

/** A primary, one replica and three sentinels; the nodes on a URL naming all three sentinels. */
async function sentinels(): Promise<FailoverDeployment> {
  const set = await startSentinelSet();
  return {
    url: set.url,
    primary: () => set.primaryPort(),
    replicaOf: async (primary) => set.data.find((d) => d.port !== primary)!.port,
    client: (port) => set.client(port),
    inSync: () => set.inSync(),
    detach: (replica) => set.detach(replica),
    kill: (port) => set.kill(port),
    promoted: (old) => set.promoted(old),
    close: () => set.close(),
  };
}

const row = (name: string, plan: FailoverPlan) => failoverRow(name, sentinels, plan);

describe("Faults with Redis behind Sentinel (SEMANTICS 4.2, 7.2)", function () {
  it("7.2 primary SIGKILLed with the replica in sync, three nodes on three sentinels, 200 instances, churn, 12 watchers: nodes follow the failover, 0 gaps, 0 duplicates, 0 false expiries, no RESET, every node equal to the new primary", async () => {
    const r = await row("sentinel-failover-in-sync", { lagMs: 0 });
    assert.equal(r.lostChanges, 0);
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.equal(r.report.resets, 0, "nothing was lost, so no watcher may be reset");
    assert.equal(r.eras, 1, "the counter's jump on the promoted replica starts from the last revision served");
  });

  it("4.2, 7.2 primary SIGKILLed while the replica lags 3 s: every watcher gets RESET, no revision reaches two watchers with different content, 0 false expiries, every node equal to the new primary", async () => {
    const r = await row("sentinel-failover-lagging", { lagMs: 3000 });
    assert.ok(r.lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.equal(r.report.resets, r.report.watchers, "every watcher is reset for the lost changes");
    assert.equal(r.eras, 2, "the promoted replica's stream jumps from below what the old primary served");
  });

  it("7.2 the lagging failover when the node that reaches the new primary first had applied less than the replica: revisions jump above every one served, no revision reaches two watchers with different content, that node's watchers go on without RESET, every other watcher gets RESET", async () => {
    const r = await row("sentinel-failover-lagging-slow-node-first", { lagMs: 3000, slowNodeFirst: true });
    assert.ok(r.lostChanges > 0, "the replica must lag for the row to mean anything");
    assert.equal(r.report.foreign, 0, "a revision reused with other content reached a watcher");
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.deepEqual(r.reloaded, [true, true, false], "only the nodes that applied the lost changes reload");
    assert.equal(r.report.resets, 8, "the 8 watchers on the nodes that applied the lost changes are reset, the 4 on the slow node are not");
  });

  it("7.2 with min-replicas-to-write 1 on the primary, the replica cut off 3 s, then the primary SIGKILLed: writes are refused instead of lost, nothing is lost, no RESET, 0 false expiries", async () => {
    const r = await row("sentinel-failover-min-replicas", { lagMs: 3000, minReplicasMaxLagS: 1 });
    assert.equal(r.lostChanges, 0, "the primary acknowledged nothing its replica lacked");
    assert.ok(passed(r.report), r.report.notes.join("\n"));
    assert.equal(r.report.resets, 0, "nothing was lost, so no watcher may be reset");
    assert.equal(r.eras, 1);
    assert.ok(r.outageMs >= 3000, "writes are refused from the cut to the promotion");
  });
});
