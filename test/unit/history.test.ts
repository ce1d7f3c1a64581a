import { strict as assert } from "node:assert";
import { resolveConfig } from "../../src/config.js";
import type { InstanceSpec } from "../../src/core/types.js";
import { History } from "../../src/store/history.js";
import { MemoryStore, type MemoryStoreClock } from "../../src/store/memory-store.js";

const config = resolveConfig({});
const spec = (id: string): InstanceSpec => ({ namespace: "default", service: "s", id, host: "h", port: 1, tags: [], metadata: {}, status: 2, weight: 1, zone: "", ttlMs: 0, checks: [] }) as InstanceSpec;
const clockAt = (wallMs: number): MemoryStoreClock => ({ wallMs: () => wallMs, monoMs: () => 0 });

async function run(clock: MemoryStoreClock, changes: number): Promise<{ store: MemoryStore; revisions: bigint[] }> {
  const store = new MemoryStore({ limits: config.limits, timing: config.timing }, clock);
  const revisions: bigint[] = [];
  for (let i = 0; i < changes; i++) revisions.push((await store.register(spec(`i${i}`))).revision);
  return { store, revisions };
}

describe("Revisions across a memory-store restart (SEMANTICS 3.1, 4.2)", () => {
  it("4.2 a restart within the same millisecond still gives revisions above every one of the earlier run", async () => {
    const a = await run(clockAt(1_700_000_000_000.1), 50);
    await a.store.close();
    const b = await run(clockAt(1_700_000_000_000.4), 50);
    await b.store.close();
    assert.ok(b.revisions[0]! > a.revisions.at(-1)!, `${b.revisions[0]} after ${a.revisions.at(-1)}`);
    assert.ok(b.revisions.every((r, i) => i === 0 || r === b.revisions[i - 1]! + 1n));
  });

  it("4.2 a revision from before the store started yields compacted, so the watcher gets a reset, never this run's history", async () => {
    const a = await run(clockAt(1_700_000_000_000), 5);
    const b = await run(clockAt(1_700_000_001_000), 5);
    assert.equal(await b.store.changesSince(a.revisions.at(-1)!), "compacted");
    assert.equal(((await b.store.changesSince(b.store.startRevision)) as unknown[]).length, 5);
    await a.store.close();
    await b.store.close();
  });

  it("4.2 after a clock step backwards, an earlier run's revision is above this run's, which the hub answers with a reset", async () => {
    const a = await run(clockAt(1_700_000_010_000), 5);
    const b = await run(clockAt(1_700_000_000_000), 5);
    // WatchHub resets any start revision above the store's current one (test/watch.test.ts checks that path).
    assert.ok(a.revisions.at(-1)! > b.store.status().revision);
    await a.store.close();
    await b.store.close();
  });
});

describe("History", () => {
  it("4.2 returns every change after a revision it still holds, and compacted once it is gone", () => {
    const h = new History(3);
    for (let r = 11n; r <= 15n; r++) h.push({ kind: "delete", revision: r, prev: spec("x") as never, cause: "deregistered" });
    assert.deepEqual((h.since(12n, 15n) as { revision: bigint }[]).map((c) => c.revision), [13n, 14n, 15n]);
    assert.equal(h.since(11n, 15n), "compacted");
    assert.deepEqual(h.since(15n, 15n), []);
    assert.equal(new History(3).since(1n, 5n), "compacted");
  });

  const del = (r: bigint) => ({ kind: "delete" as const, revision: r, prev: spec("x") as never, cause: "deregistered" as const });
  const jump = (from: bigint, to: bigint) => ({ kind: "jump" as const, from, revision: to });

  it("4.2 a jump of the counter loses nothing: a revision at its start goes on after it, without the jump", () => {
    const h = new History(8);
    for (const e of [del(11n), del(12n), jump(12n, 1000n), del(1001n), del(1002n)]) h.push(e);
    assert.deepEqual((h.since(11n, 1002n) as { revision: bigint }[]).map((c) => c.revision), [12n, 1001n, 1002n]);
    assert.deepEqual((h.since(12n, 1002n) as { revision: bigint }[]).map((c) => c.revision), [1001n, 1002n]);
    assert.deepEqual((h.since(1000n, 1002n) as { revision: bigint }[]).map((c) => c.revision), [1001n, 1002n]);
    assert.deepEqual(h.since(1002n, 1002n), []);
  });

  it("4.2 a revision inside a jump was served by no history this node holds (a lost change's): compacted", () => {
    const h = new History(8);
    for (const e of [del(11n), del(12n), jump(12n, 1000n), del(1001n)]) h.push(e);
    for (const r of [13n, 500n, 999n]) assert.equal(h.since(r, 1001n), "compacted", `from ${r}`);
    assert.equal(h.since(9n, 1001n), "compacted");
  });

  it("4.2 an entry that does not follow on from the newest starts the history over from it", () => {
    const h = new History(8);
    for (const e of [del(11n), del(12n), del(20n), del(21n)]) h.push(e);
    assert.equal(h.since(12n, 21n), "compacted");
    assert.deepEqual((h.since(19n, 21n) as { revision: bigint }[]).map((c) => c.revision), [20n, 21n]);
    const j = new History(8);
    for (const e of [del(11n), jump(5n, 100n)]) j.push(e);
    assert.equal(j.since(11n, 100n), "compacted", "a jump from another revision than the newest is not continuous with it");
  });

  it("4.2 a ring that wrapped keeps answering by revision across a jump", () => {
    const kept = new History(3);
    for (const e of [del(1n), del(2n), jump(2n, 50n), del(51n), del(52n)]) kept.push(e);
    assert.deepEqual((kept.since(2n, 52n) as { revision: bigint }[]).map((c) => c.revision), [51n, 52n], "the jump is still held, so 2 goes on");
    const h = new History(2);
    for (const e of [del(1n), del(2n), jump(2n, 50n), del(51n), del(52n)]) h.push(e);
    assert.equal(h.since(2n, 52n), "compacted", "the jump left the ring, so 2 is older than the history");
    assert.deepEqual((h.since(50n, 52n) as { revision: bigint }[]).map((c) => c.revision), [51n, 52n]);
    assert.deepEqual((h.since(51n, 52n) as { revision: bigint }[]).map((c) => c.revision), [52n]);
  });
});
