import { strict as assert } from "node:assert";
import { WatchEventType, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../../src/config.js";
import { WatchHub } from "../../src/server/watch-hub.js";
import { MemoryStore } from "../../src/store/memory-store.js";

// A time budget far beyond the test, so the count alone ends a slice.
const config = resolveConfig({ limits: { maxWatchersPerFanoutSlice: 10, maxFanoutSliceMicros: 10_000_000 } });
const anyFilter = { tags: [], metadata: {}, zone: "" };
const turn = () => new Promise((r) => setImmediate(r));

function register(store: MemoryStore, id: string) {
  return store.register({ namespace: "default", service: "s", id, host: "h", port: 1, tags: [], metadata: {}, status: 2, weight: 1, zone: "", ttlMs: 0, checks: [] });
}

type Opened = Awaited<ReturnType<typeof open>>;

/** A watcher of service s whose transport takes what the hub offers while `accept()` says so; it pulls once, as an idle transport waits. */
function open(hub: WatchHub, accept: () => boolean) {
  const offered: WatchResponse[] = [];
  const controller = new AbortController();
  const it = hub.watch({ namespace: "default", service: "s", filter: anyFilter, startRevision: 0n }, controller.signal, {
    offer: (m) => accept() && offered.push(m) > 0,
  });
  const pull = it.next();
  // Ends the watch as a cancelling client does (the generator waits for a message, so `return` would queue behind it).
  const stop = () => (controller.abort(), it.next().catch(() => {}), pull.catch(() => {}));
  return { it, offered, pull, stop };
}

/** `n` primed watchers that take every offer: the snapshot's end went out past the generator, which now waits. */
async function idleWatchers(hub: WatchHub, n: number): Promise<Opened[]> {
  const ws = Array.from({ length: n }, () => open(hub, () => true));
  await turn();
  for (const w of ws) assert.deepEqual(w.offered.map((m) => m.type), [WatchEventType.SNAPSHOT_COMPLETE]);
  return ws;
}

describe("WatchHub fan-out: slices, encoded once, written past the generator (SEMANTICS 4.3)", function () {
  it("4.3 a change reaches at most max-watchers-per-fanout-slice watchers before the event loop is let through; every watcher gets every change, in order", async () => {
    const store = new MemoryStore({ limits: config.limits, timing: config.timing });
    const hub = new WatchHub(store, config.limits, config.timing);
    const ws = await idleWatchers(hub, 35);
    const a = await register(store, "a");
    assert.equal(ws.filter((w) => w.offered.length > 1).length, 10, "one slice ran before the caller got its answer");
    const b = await register(store, "b");
    for (let i = 0; i < 10; i++) await turn();
    for (const w of ws) assert.deepEqual(w.offered.slice(1).map((m) => m.revision), [a.revision, b.revision]);
    // Every watcher that sees a change the same way gets the same message: the transport encodes it once.
    assert.ok(ws.every((w) => w.offered[1] === ws[0]!.offered[1]));
    await Promise.all(ws.map((w) => w.stop()));
    hub.close();
    await store.close();
  });

  it("4.3 a fan-out slice also ends after max-fanout-slice-micros, however many watchers max-watchers-per-fanout-slice allows; every watcher still gets every change, in order", async () => {
    const timed = resolveConfig({ limits: { maxWatchersPerFanoutSlice: 1_000_000, maxFanoutSliceMicros: 1 } });
    const store = new MemoryStore({ limits: timed.limits, timing: timed.timing });
    const hub = new WatchHub(store, timed.limits, timed.timing);
    // Each delivery takes at least 20 µs, so the 1 µs budget is spent by the first look at the clock.
    const spin = () => {
      const until = performance.now() + 0.02;
      while (performance.now() < until);
      return true;
    };
    const ws = Array.from({ length: 100 }, () => open(hub, spin));
    await turn();
    const a = await register(store, "a");
    const first = ws.filter((w) => w.offered.length > 1).length;
    assert.ok(first > 0 && first <= 32, `one short slice ran before the caller got its answer (${first} of 100)`);
    const b = await register(store, "b");
    for (let i = 0; i < 400 && ws.some((w) => w.offered.length < 3); i++) await turn();
    for (const w of ws) assert.deepEqual(w.offered.slice(1).map((m) => m.revision), [a.revision, b.revision]);
    await Promise.all(ws.map((w) => w.stop()));
    hub.close();
    await store.close();
  });

  it("4.3 a message the transport refuses is queued and yielded; nothing is offered while the transport holds an unwritten message", async () => {
    const store = new MemoryStore({ limits: config.limits, timing: config.timing });
    const hub = new WatchHub(store, config.limits, config.timing);
    let accept = false;
    let asked = 0;
    const w = open(hub, () => (asked++, accept));
    assert.equal((await w.pull).value!.type, WatchEventType.SNAPSHOT_COMPLETE, "refused, so yielded");
    const pulled = w.it.next();
    const a = await register(store, "a");
    assert.equal((await pulled).value!.revision, a.revision);
    const before = asked;
    const b = await register(store, "b");
    assert.equal(asked, before, "nothing is offered while the transport holds a message it has not written");
    assert.equal((await w.it.next()).value!.revision, b.revision);
    accept = true;
    const idle = w.it.next();
    const c = await register(store, "c");
    assert.deepEqual(w.offered.map((m) => m.revision), [c.revision], "once the transport waits again, offers resume");
    void idle.catch(() => {});
    await w.stop();
    hub.close();
    await store.close();
  });
});
