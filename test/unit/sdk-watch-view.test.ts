import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { InstanceStatus, RemovalReason, WatchEventType, WatchResponseSchema } from "../../gen/roster/v1/registry_pb.js";
import { WatchView } from "../../src/sdk/watch-view.js";

function ev(type: WatchEventType, revision: number, id?: string, extra: { port?: number; reason?: RemovalReason; changedAt?: number } = {}) {
  return create(WatchResponseSchema, {
    type,
    revision: BigInt(revision),
    reason: extra.reason ?? RemovalReason.UNSPECIFIED,
    ...(id === undefined
      ? {}
      : { instance: { service: "s", id, host: "h", port: extra.port ?? 1, status: InstanceStatus.HEALTHY, createRevision: BigInt(extra.changedAt ?? revision), modRevision: BigInt(extra.changedAt ?? revision) } }),
  });
}
const { ADDED, UPDATED, REMOVED, SNAPSHOT_COMPLETE, RESET, PROGRESS } = WatchEventType;
const ids = (v: WatchView) => v.list.map((i) => i.id);
const kinds = (changes: { kind: string; instance: { id: string } }[]) => changes.map((c) => `${c.kind} ${c.instance.id}`);

/** A view that has committed a snapshot of `members` at `revision`. */
function synced(members: string[], revision: number): WatchView {
  const v = new WatchView();
  v.beginSnapshot();
  for (const id of members) v.apply(ev(ADDED, revision, id));
  v.apply(ev(SNAPSHOT_COMPLETE, revision));
  return v;
}

describe("WatchView (SEMANTICS 4.1 to 4.3, on the client)", () => {
  it("4.1 shows nothing of a snapshot until SNAPSHOT_COMPLETE, then all of it at once, ordered by id", () => {
    const v = new WatchView();
    v.beginSnapshot();
    assert.deepEqual(v.apply(ev(ADDED, 5, "b")), []);
    v.apply(ev(ADDED, 5, "a"));
    assert.deepEqual(ids(v), []);
    assert.equal(v.synced, false);
    assert.deepEqual(kinds(v.apply(ev(SNAPSHOT_COMPLETE, 5))).sort(), ["added a", "added b"]);
    assert.deepEqual(ids(v), ["a", "b"]);
    assert.equal(v.revision, 5n);
    assert.equal(v.synced, true);
  });

  it("4.3 applies live changes in order and ignores any at or below its revision (an overlapping resume)", () => {
    const v = synced(["a"], 5);
    assert.deepEqual(kinds(v.apply(ev(ADDED, 6, "b"))), ["added b"]);
    assert.deepEqual(v.apply(ev(REMOVED, 6, "b")), [], "a repeated revision is ignored");
    assert.deepEqual(v.apply(ev(ADDED, 4, "old")), []);
    const removal = v.apply(ev(REMOVED, 7, "a", { reason: RemovalReason.EXPIRED }));
    assert.deepEqual(kinds(removal), ["removed a"]);
    assert.equal(removal[0]!.reason, RemovalReason.EXPIRED);
    assert.deepEqual(kinds(v.apply(ev(UPDATED, 8, "b", { port: 2 }))), ["updated b"]);
    assert.deepEqual(ids(v), ["b"]);
    assert.equal(v.revision, 8n);
  });

  it("4.2 rebuilds after a RESET off to the side and reports only the difference when it commits", () => {
    const v = synced(["a", "b", "c"], 5);
    assert.deepEqual(v.apply(ev(RESET, 20)), []);
    v.apply(ev(ADDED, 20, "a", { changedAt: 5 }));
    v.apply(ev(ADDED, 20, "c", { port: 9, changedAt: 5 }));
    v.apply(ev(ADDED, 20, "d"));
    assert.deepEqual(ids(v), ["a", "b", "c"], "readers keep the old list during the rebuild");
    const changes = v.apply(ev(SNAPSHOT_COMPLETE, 20));
    assert.deepEqual(kinds(changes).sort(), ["added d", "removed b", "updated c"].sort(), "a is unchanged (same revisions and address)");
    assert.ok(changes.every((c) => c.revision === 20n));
    assert.deepEqual(ids(v), ["a", "c", "d"]);
  });

  it("keeps the committed list when a rebuild is abandoned, and applies REMOVED inside a snapshot to the staging copy", () => {
    const v = synced(["a"], 5);
    v.beginSnapshot();
    v.apply(ev(ADDED, 9, "z"));
    v.apply(ev(REMOVED, 9, "a"));
    v.abortSnapshot();
    assert.deepEqual(ids(v), ["a"]);
    assert.deepEqual(v.apply(ev(SNAPSHOT_COMPLETE, 9)), [], "no rebuild is pending any more");
    assert.equal(v.revision, 5n);
  });

  it("4.4 moves its revision forward on PROGRESS only once synced and not rebuilding", () => {
    const fresh = new WatchView();
    fresh.apply(ev(PROGRESS, 3));
    assert.equal(fresh.revision, 0n);
    const v = synced([], 5);
    v.apply(ev(PROGRESS, 9));
    assert.equal(v.revision, 9n);
    v.apply(ev(PROGRESS, 7));
    assert.equal(v.revision, 9n, "never backwards");
    v.beginSnapshot();
    v.apply(ev(PROGRESS, 12));
    assert.equal(v.revision, 9n);
  });
});
