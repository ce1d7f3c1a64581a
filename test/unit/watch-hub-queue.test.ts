import { strict as assert } from "node:assert";
import { WatchEventType, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../../src/config.js";
import type { Snapshot } from "../../src/core/types.js";
import { RosterError } from "../../src/errors.js";
import { WatchHub } from "../../src/server/watch-hub.js";
import { MemoryStore } from "../../src/store/memory-store.js";

const config = resolveConfig({ limits: { maxWatchQueue: 5 } });
const anyFilter = { tags: [], metadata: {}, zone: "" };

/** A memory store whose `list` waits until `open()`, so changes pile up while a watcher's snapshot is read. */
class GatedListStore extends MemoryStore {
  open: () => void = () => {};
  // After `open`: fields initialise in order, and this one replaces it.
  #gate: Promise<void> = new Promise((r) => (this.open = r));
  override async list(namespace: string, service: string | undefined): Promise<Snapshot> {
    await this.#gate;
    return super.list(namespace, service);
  }
}

async function register(store: MemoryStore, n: number, from = 0): Promise<bigint> {
  let revision = 0n;
  for (let i = from; i < from + n; i++) {
    revision = (await store.register({ namespace: "default", service: "s", id: `i${i}`, host: "h", port: 1, tags: [], metadata: {}, status: 2, weight: 1, zone: "", ttlMs: 0, checks: [] })).revision;
  }
  return revision;
}

function setUp(store = new MemoryStore({ limits: config.limits, timing: config.timing })) {
  const hub = new WatchHub(store, config.limits, config.timing);
  const ended: RosterError[] = [];
  const watch = (startRevision: bigint) => hub.watch({ namespace: "default", service: "s", filter: anyFilter, startRevision }, new AbortController().signal, { onEnd: (e) => ended.push(e) });
  const close = async () => {
    hub.close();
    await store.close();
  };
  return { store, hub, ended, watch, close };
}

async function take(it: AsyncGenerator<WatchResponse>, n: number): Promise<WatchResponse[]> {
  const out: WatchResponse[] = [];
  while (out.length < n) out.push((await it.next()).value!);
  return out;
}

describe("WatchHub: everything queued for a watcher counts against max-watch-queue (SEMANTICS 4.2, 4.3)", function () {
  it("4.3 changes queued while the snapshot is read count: over max-watch-queue the watcher is ended before the snapshot arrives", async () => {
    const t = setUp(new GatedListStore({ limits: config.limits, timing: config.timing }));
    const it = t.watch(0n);
    const first = it.next();
    await new Promise((r) => setImmediate(r));
    assert.equal(t.hub.watchers, 1);
    await register(t.store, 5);
    assert.equal(t.hub.watchers, 1, "five pending changes are within the bound");
    await register(t.store, 1, 5);
    assert.equal(t.hub.watchers, 0, "the sixth frees the slot at once");
    assert.equal(t.ended[0]?.kind, "resource_exhausted");
    (t.store as GatedListStore).open();
    await assert.rejects(first, (e: unknown) => e === t.ended[0]);
    await t.close();
  });

  it("4.2 a resume whose replay is longer than max-watch-queue is sent whole as history, never cut off: the replay holds references, not queued messages", async () => {
    const t = setUp();
    const start = await register(t.store, 1);
    await register(t.store, 9, 1);
    const it = t.watch(start);
    const events = await take(it, 9);
    assert.deepEqual(events.map((e) => e.instance?.id), ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9"]);
    assert.ok(events.every((e) => e.type === WatchEventType.ADDED));
    assert.equal(t.ended.length, 0);
    await it.return(undefined);
    await t.close();
  });

  it("4.2 a replay within max-watch-queue is sent as history: every change above the start revision, in order, no RESET", async () => {
    const t = setUp();
    const start = await register(t.store, 1);
    await register(t.store, 5, 1);
    const it = t.watch(start);
    const events = await take(it, 5);
    assert.deepEqual(events.map((e) => e.instance?.id), ["i1", "i2", "i3", "i4", "i5"]);
    assert.ok(events.every((e, i) => e.type === WatchEventType.ADDED && (i === 0 || e.revision > events[i - 1]!.revision)));
    assert.equal(t.ended.length, 0);
    await it.return(undefined);
    await t.close();
  });

  it("4.3 what piles up behind an unread replay counts: a 9-change replay taken once, then 6 live changes > 5 end the watcher", async () => {
    const t = setUp();
    const start = await register(t.store, 1);
    await register(t.store, 9, 1);
    const it = t.watch(start);
    const first = await it.next();
    assert.equal(first.value!.instance?.id, "i1");
    await register(t.store, 5, 10);
    assert.equal(t.hub.watchers, 1, "5 live changes behind the replay are within the bound");
    await register(t.store, 1, 15);
    assert.equal(t.hub.watchers, 0);
    assert.equal(t.ended[0]?.kind, "resource_exhausted");
    // The hint never runs ahead of what the transport took: resuming from it cannot skip.
    const hint = /start_revision=(\d+)/.exec(t.ended[0]!.message);
    assert.ok(hint && BigInt(hint[1]!) >= start && BigInt(hint[1]!) <= first.value!.revision, t.ended[0]!.message);
    await t.close();
  });

  it("4.2 live changes during a replay follow it in order, none missing or repeated", async () => {
    const t = setUp();
    const start = await register(t.store, 1);
    await register(t.store, 3, 1);
    const it = t.watch(start);
    const first = await it.next();
    await register(t.store, 2, 4);
    const rest = await take(it, 4);
    const ids = [first.value!, ...rest].map((e) => e.instance?.id);
    assert.deepEqual(ids, ["i1", "i2", "i3", "i4", "i5"]);
    const revs = [first.value!, ...rest].map((e) => e.revision);
    assert.ok(revs.every((r, i) => i === 0 || r > revs[i - 1]!));
    await it.return(undefined);
    await t.close();
  });
});
