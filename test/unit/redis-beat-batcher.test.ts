import assert from "node:assert/strict";
import { BeatBatcher, type BatchOutcome } from "../../src/store/redis/beat-batcher.js";

describe("BeatBatcher (Redis heartbeats, SEMANTICS 2.1)", () => {
  it("sends a lone beat at once and the beats queued meanwhile together in the next batch", async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const b = new BeatBatcher<number>(100, async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((): BatchOutcome => ({ kind: "done" }));
    });
    const first = b.add(0);
    await new Promise((r) => setImmediate(r));
    const rest = [1, 2, 3].map((i) => b.add(i));
    assert.equal(b.queued, 3);
    release();
    await Promise.all([first, ...rest]);
    assert.deepEqual(batches, [[0], [1, 2, 3]]);
  });

  it("answers each caller with its own outcome, and every caller of a failed batch with the error", async () => {
    let fail = false;
    const b = new BeatBatcher<number>(2, async (items) => {
      if (fail) throw new Error("redis away");
      return items.map((i): BatchOutcome => (i === 1 ? { kind: "failed", error: new Error("not found") } : i === 2 ? { kind: "later", until: Promise.resolve() } : { kind: "done" }));
    });
    const results = await Promise.allSettled([b.add(0), b.add(1), b.add(2)]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    fail = true;
    await assert.rejects(b.add(5), /redis away/);
  });

  it("fails queued beats at once when told (a node going stale must not let them hang)", async () => {
    let release: () => void = () => {};
    const b = new BeatBatcher<number>(10, async (items) => {
      await new Promise<void>((r) => (release = r));
      return items.map((): BatchOutcome => ({ kind: "done" }));
    });
    const inFlight = b.add(0);
    await new Promise((r) => setImmediate(r));
    const queued = b.add(1);
    b.failQueued(new Error("stale"));
    await assert.rejects(queued, /stale/);
    release();
    await inFlight;
  });
});
