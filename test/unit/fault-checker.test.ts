import assert from "node:assert/strict";
import { check, passed, type TruthChange, type WatchItem, type WatcherRecord } from "../fault/harness/checker.js";

const svc = "default/pay";
const put = (revision: number, id: string, at = revision, registeredAt = 1): TruthChange => ({ revision: BigInt(revision), kind: "put", key: `${svc}/${id}`, registeredAt, at });
const del = (revision: number, id: string, cause: "expired" | "deregistered", at = revision): TruthChange => ({ revision: BigInt(revision), kind: "delete", key: `${svc}/${id}`, registeredAt: 1, cause, at });
const open = (start: number, at = 0): WatchItem => ({ kind: "open", startRevision: BigInt(start), at });
const ev = (type: "ADDED" | "UPDATED" | "REMOVED", revision: number, id: string, at = revision, registeredAt = 1): WatchItem => ({
  kind: "event",
  type,
  revision: BigInt(revision),
  key: `${svc}/${id}`,
  registeredAt,
  at,
});
const snapAdd = (modRevision: number, id: string, at: number, registeredAt = 1): WatchItem => ({
  kind: "event",
  type: "ADDED",
  revision: BigInt(modRevision),
  modRevision: BigInt(modRevision),
  key: `${svc}/${id}`,
  registeredAt,
  at,
});
const marker = (type: "SNAPSHOT_COMPLETE" | "RESET" | "PROGRESS", revision: number, at = revision): WatchItem => ({ kind: "event", type, revision: BigInt(revision), at });
const watcher = (items: WatchItem[], resolved: [string, number][]): WatcherRecord => ({
  name: "w",
  service: svc,
  items,
  resolved: new Map(resolved.map(([id, r]) => [`${svc}/${id}`, BigInt(r)])),
});
const truth = { eras: [{ startedAt: 0, changes: [put(1, "a"), put(2, "b"), del(3, "a", "deregistered"), put(4, "c")] }] };
const good = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), ev("REMOVED", 3, "a"), ev("ADDED", 4, "c")];

describe("fault checker (the fault suite's judge of SEMANTICS 2.6, 4.2, 4.3)", () => {
  it("passes a watcher that saw every change once, in order, ending equal to Resolve", () => {
    const r = check([watcher(good, [["b", 2], ["c", 4]])], truth);
    assert.ok(passed(r), r.notes.join("; "));
  });

  it("4.2 counts a skipped revision as a gap", () => {
    const items = good.filter((i) => !(i.kind === "event" && i.revision === 3n));
    const r = check([watcher(items, [["b", 2], ["c", 4]])], truth);
    assert.equal(r.gaps, 1);
    assert.equal(r.finalMismatch, 1, "the watcher still holds a, which Resolve does not");
  });

  it("4.2 a gap hidden behind a PROGRESS marker still counts", () => {
    const items = [...good.slice(0, 4), marker("PROGRESS", 4)];
    const r = check([watcher(items, [["a", 1], ["b", 2]])], truth);
    assert.equal(r.gaps, 2);
  });

  it("4.3 counts a repeated and an out-of-order revision", () => {
    const r = check([watcher([...good, ev("ADDED", 4, "c")], [["b", 2], ["c", 4]])], truth);
    assert.equal(r.duplicates, 1);
    const r2 = check([watcher([open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 2, "b"), ev("ADDED", 1, "a")], [["a", 1], ["b", 2]])], { eras: [{ startedAt: 0, changes: [put(1, "a"), put(2, "b")] }] });
    assert.equal(r2.disorder, 1);
  });

  it("4.1 a snapshot that differs from the truth at its revision is counted", () => {
    const r = check([watcher([open(0), snapAdd(1, "a", 5), marker("SNAPSHOT_COMPLETE", 2, 5)], [["a", 1]])], truth);
    assert.equal(r.badSnapshots, 1, "b (revision 2) is missing from the snapshot");
    const ok = check([watcher([open(0), snapAdd(1, "a", 5), snapAdd(2, "b", 5), marker("SNAPSHOT_COMPLETE", 2, 5)], [["a", 1], ["b", 2]])], truth);
    assert.ok(passed(ok), ok.notes.join("; "));
  });

  describe("across a loss of state (Redis restarted empty)", () => {
    // Era 1 restarts revisions at 1 with a different registeredAt: the same revisions, other changes.
    const lost = { eras: [{ startedAt: 0, changes: [put(1, "a"), put(2, "b")] }, { startedAt: 100, changes: [put(1, "b", 150, 2), put(2, "c", 160, 2), put(3, "d", 170, 2)] }] };

    it("4.2 a watcher that resumes into the new history without RESET is caught (foreign changes, missed reset, stale state)", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), { kind: "end", code: "unavailable", at: 120 } as const, open(2, 130), ev("ADDED", 3, "d", 170, 2)];
      const r = check([watcher(items, [["b", 1], ["c", 2], ["d", 3]])], lost);
      assert.equal(r.foreign, 1);
      assert.equal(r.missedResets, 1);
      assert.equal(r.finalMismatch, 1);
    });

    it("4.2 an up-to-date watcher told nothing changed keeps lost instances: caught", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), marker("PROGRESS", 2, 200)];
      const r = check([watcher(items, [["b", 1], ["c", 2], ["d", 3]])], lost);
      assert.equal(r.missedResets, 1);
      assert.equal(r.finalMismatch, 1);
      assert.ok(!passed(r));
    });

    it("4.2 a watcher that gets RESET and a fresh snapshot after the loss passes", () => {
      const items = [
        open(0),
        marker("SNAPSHOT_COMPLETE", 0),
        ev("ADDED", 1, "a"),
        ev("ADDED", 2, "b"),
        { kind: "end", code: "unavailable", at: 120 } as const,
        open(2, 165),
        marker("RESET", 2, 166),
        snapAdd(1, "b", 166, 2),
        snapAdd(2, "c", 166, 2),
        marker("SNAPSHOT_COMPLETE", 2, 166),
        ev("ADDED", 3, "d", 170, 2),
      ];
      const r = check([watcher(items, [["b", 1], ["c", 2], ["d", 3]])], lost);
      assert.ok(passed(r), r.notes.join("; "));
      assert.equal(r.resets, 1);
    });
  });

  describe("across a failover to a lagging replica (the new era keeps a prefix of the old)", () => {
    // Era 0: revisions 1-4; the replica had 1-2; after the loss the counter jumps (to 1000) and history goes on.
    const old = [put(1, "a"), put(2, "b"), put(3, "c"), del(4, "a", "deregistered")];
    const failover = { eras: [{ startedAt: 0, changes: old }, { startedAt: 100, changes: [...old.slice(0, 2), put(1001, "d", 150)], keptThrough: 2n }] };

    it("4.2 a watcher that held revisions 3-4 and is RESET into the kept prefix plus new changes passes", () => {
      const items = [
        ...[open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), ev("ADDED", 3, "c"), ev("REMOVED", 4, "a")],
        marker("RESET", 1000, 120),
        snapAdd(1, "a", 120),
        snapAdd(2, "b", 120),
        marker("SNAPSHOT_COMPLETE", 1000, 120),
        ev("ADDED", 1001, "d", 150),
      ];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["d", 1001]])], failover);
      assert.ok(passed(r), r.notes.join("; "));
    });

    it("4.2 a watcher that keeps the lost revisions 3-4 and goes on without RESET is caught", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), ev("ADDED", 3, "c"), ev("REMOVED", 4, "a"), ev("ADDED", 1001, "d", 150)];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["d", 1001]])], failover);
      assert.equal(r.foreign, 1, "1001 is not a change of the era the watcher followed");
      assert.equal(r.missedResets, 1);
      assert.equal(r.finalMismatch, 1);
    });

    it("7.2 a watcher that saw only the kept prefix goes on into the new era without RESET and passes", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), ev("ADDED", 1001, "d", 150)];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["d", 1001]])], failover);
      assert.ok(passed(r), r.notes.join("; "));
      assert.equal(r.resets, 0);
    });

    it("7.2 a watcher that saw a lost revision cannot go on into the new era, even after a PROGRESS past it", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), marker("PROGRESS", 3, 90), ev("ADDED", 1001, "d", 150)];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["d", 1001]])], failover);
      assert.equal(r.foreign, 1, "the watcher was told of revision 3, which the new era does not hold");
      assert.equal(r.missedResets, 1);
    });

    it("7.2 a watcher reset before the failover and going on into the new era is not a missed reset", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), marker("RESET", 1, 50), snapAdd(1, "a", 50), marker("SNAPSHOT_COMPLETE", 1, 50), ev("ADDED", 2, "b", 60), ev("ADDED", 1001, "d", 150)];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["d", 1001]])], failover);
      assert.ok(passed(r), r.notes.join("; "));
    });

    it("4.2 a revision reused with other content after the loss is foreign to both eras", () => {
      const items = [open(0), marker("SNAPSHOT_COMPLETE", 0), ev("ADDED", 1, "a"), ev("ADDED", 2, "b"), ev("ADDED", 3, "x", 130)];
      const r = check([watcher(items, [["a", 1], ["b", 2], ["x", 3]])], failover);
      assert.equal(r.foreign, 1);
    });
  });

  it("2.6 counts expiries of instances whose heartbeater was alive, and only those", () => {
    const t = { eras: [{ startedAt: 0, changes: [put(1, "a"), put(2, "b"), del(3, "a", "expired", 50), del(4, "b", "expired", 50)] }] };
    const alive = new Map([
      [`${svc}/a`, { from: 0, to: 100 }],
      [`${svc}/b`, { from: 0, to: 10 }],
    ]);
    assert.equal(check([], t, alive).falseExpiries, 1);
  });
});
