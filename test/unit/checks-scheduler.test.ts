import { strict as assert } from "node:assert";
import { CheckScheduler, type SchedulerClock } from "../../src/server/checks/check-scheduler.js";

const settle = () => new Promise<void>((r) => setImmediate(r));

/** A clock that moves only when told; timers fire in due order. */
class ManualClock implements SchedulerClock {
  t = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #ids = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#ids;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((x) => x.id !== handle);
  }
  /** Moves time on, firing each due timer and letting the promises it started settle before the next. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (next === undefined || next.at > end) break;
      this.#timers.shift();
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** A deterministic source of numbers in [0, 1) (a linear congruential generator). */
function seeded(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

describe("checks: scheduler (SEMANTICS 6.2)", () => {
  it("6.2 2,000 checks added at once fire spread over their interval, not in the same millisecond", async () => {
    const clock = new ManualClock();
    const runs: number[] = [];
    const s = new CheckScheduler({ clock, random: seeded(7), maxConcurrent: 10_000, run: async () => void runs.push(clock.t) });
    for (let i = 0; i < 2_000; i++) s.add(`c${i}`, { intervalMs: 1_000, initialDelayMs: 0 });
    await clock.advance(999);
    assert.equal(runs.length, 2_000, "each check ran once in its first interval");
    const buckets = Array<number>(10).fill(0);
    for (const t of runs) buckets[Math.floor(t / 100)]!++;
    for (const b of buckets) assert.ok(b > 140 && b < 260, `a 100 ms bucket holds ${b} of 2,000 first runs: ${buckets.join(",")}`);
    const perMs = new Map<number, number>();
    for (const t of runs) perMs.set(t, (perMs.get(t) ?? 0) + 1);
    assert.ok(Math.max(...perMs.values()) <= 10, "no millisecond holds more than a handful");
    s.close();
  });

  it("6.2 each check then runs once per interval at a fixed rate from its own phase", async () => {
    const clock = new ManualClock();
    const runs = new Map<string, number[]>();
    const s = new CheckScheduler({ clock, random: seeded(3), maxConcurrent: 100, run: async (id) => void (runs.get(id) ?? runs.set(id, []).get(id)!).push(clock.t) });
    for (let i = 0; i < 50; i++) s.add(`c${i}`, { intervalMs: 1_000, initialDelayMs: 500 });
    await clock.advance(10_499);
    for (const [id, times] of runs) {
      assert.equal(times.length, 10, `${id} ran ${times.length} times in 10 intervals`);
      assert.ok(times[0]! >= 500 && times[0]! < 1_500, "first run after the initial delay, within one interval of it");
      for (let k = 1; k < times.length; k++) assert.equal(times[k]! - times[k - 1]!, 1_000);
    }
    assert.equal(runs.size, 50);
    s.close();
  });

  it("at most max-concurrent-probes runs are in flight; the rest wait and run when a slot frees", async () => {
    const clock = new ManualClock();
    const release: (() => void)[] = [];
    let waits = 0;
    const started: string[] = [];
    const s = new CheckScheduler({
      clock,
      random: () => 0,
      maxConcurrent: 2,
      onWait: () => waits++,
      run: (id) => new Promise<void>((r) => { started.push(id); release.push(r); }),
    });
    for (const id of ["a", "b", "c", "d"]) s.add(id, { intervalMs: 10_000, initialDelayMs: 0 });
    await clock.advance(0);
    assert.equal(started.length, 2);
    assert.equal(s.inFlight, 2);
    assert.equal(s.waiting, 2);
    assert.equal(waits, 2);
    release.shift()!();
    await settle();
    assert.equal(started.length, 3, "a freed slot goes to a waiting run");
    release.shift()!();
    release.shift()!();
    await settle();
    assert.deepEqual([...started].sort(), ["a", "b", "c", "d"]);
    assert.equal(s.waiting, 0);
    s.close();
  });

  it("a check whose previous run is still going skips its turn instead of piling up", async () => {
    const clock = new ManualClock();
    let overruns = 0;
    let runs = 0;
    let release: (() => void) | undefined;
    const s = new CheckScheduler({ clock, random: () => 0, maxConcurrent: 10, onOverrun: () => overruns++, run: () => new Promise<void>((r) => { runs++; release = r; }) });
    s.add("slow", { intervalMs: 1_000, initialDelayMs: 0 });
    await clock.advance(3_500);
    assert.equal(runs, 1);
    assert.equal(overruns, 3);
    release!();
    await settle();
    await clock.advance(1_000);
    assert.equal(runs, 2);
    s.close();
  });

  it("a removed check never runs again; re-adding it with the same cadence keeps its phase", async () => {
    const clock = new ManualClock();
    const runs: string[] = [];
    const s = new CheckScheduler({ clock, random: () => 0.5, maxConcurrent: 10, run: async (id) => void runs.push(`${id}@${clock.t}`) });
    s.add("a", { intervalMs: 1_000, initialDelayMs: 0 });
    s.add("b", { intervalMs: 1_000, initialDelayMs: 0 });
    await clock.advance(600);
    s.add("a", { intervalMs: 1_000, initialDelayMs: 0 });
    s.remove("b");
    await clock.advance(1_000);
    assert.deepEqual(runs, ["a@500", "b@500", "a@1500"]);
    s.close();
  });
});
