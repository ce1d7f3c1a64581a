import { strict as assert } from "node:assert";
import { ExpiryGuard, renewedUntil, type ExpiryGuardOptions } from "../../src/store/expiry-guard.js";
import { RenewedLeases } from "../../src/store/renewed-leases.js";

/** One simulated lease: its client beats every TTL/3 (times `slip` at each beat) from `phase` while alive and reachable. */
interface SimLease {
  readonly id: number;
  readonly ttlMs: number;
  readonly phase: number;
  deadline: number;
  nextBeat: number;
  dead: boolean;
  expiredAt?: number;
  lastBeat: number;
}

interface Sim {
  readonly leases: SimLease[];
  readonly log: { t: number; active: boolean; detail: string }[];
  readonly guard: ExpiryGuard;
  run(untilMs: number): void;
  now(): number;
}

/**
 * A registry on a simulated clock: a sweep every `sweepMs` feeds the guard
 * with the leases renewed within their window and expires what it allows.
 * `reachable(t)` says whether beats reach the registry (a partition when false);
 * after it returns, each client comes back after its own backoff, up to one beat interval.
 */
function simulate(opts: {
  n: number;
  ttlMs: number;
  reachable?: (t: number) => boolean;
  /** While true the registry runs nothing (a pause): beats queue up and are read after the first sweep that follows. */
  stalled?: (t: number) => boolean;
  dies?: (lease: SimLease) => number | undefined;
  /** Each beat comes this many times the beat interval after the previous one (a timer that slips, or a faster client). */
  slip?: (lease: SimLease, beat: number) => number;
  guard?: Partial<ExpiryGuardOptions>;
  sweepMs?: number;
}): Sim {
  const sweepMs = opts.sweepMs ?? 100;
  const log: Sim["log"] = [];
  let t = 0;
  const guard = new ExpiryGuard(
    { threshold: 0.5, minLeases: 10, flapWindowMs: 10_000, maxHoldMs: 60_000, onChange: (active, detail) => log.push({ t, active, detail }), ...opts.guard },
    0,
  );
  const interval = opts.ttlMs / 3;
  const leases: SimLease[] = [];
  const renewed = new RenewedLeases(sweepMs, 0);
  let beats = 0;
  for (let i = 0; i < opts.n; i++) {
    const phase = (i * interval) / opts.n;
    leases.push({ id: i, ttlMs: opts.ttlMs, phase, deadline: opts.ttlMs, nextBeat: phase, dead: false, lastBeat: 0 });
    renewed.add(renewedUntil(opts.ttlMs, opts.ttlMs)); // its registration
  }
  const reachable = opts.reachable ?? (() => true);
  let wasReachable = true;
  const queued: SimLease[] = [];
  const beat = (l: SimLease) => {
    renewed.move(renewedUntil(l.deadline, l.ttlMs), renewedUntil(t + l.ttlMs, l.ttlMs));
    l.deadline = t + l.ttlMs;
    l.lastBeat = t;
  };
  const run = (untilMs: number) => {
    for (; t < untilMs; t += 10) {
      const up = reachable(t);
      const paused = opts.stalled?.(t) ?? false;
      for (const l of leases) {
        if (l.expiredAt !== undefined) continue;
        const deathAt = opts.dies?.(l);
        if (deathAt !== undefined && t >= deathAt) l.dead = true;
        if (up && !wasReachable) l.nextBeat = t + ((l.id * 7919) % 1000) / 1000 * interval; // reconnect backoff
        if (!l.dead && up && t >= l.nextBeat) {
          if (paused) queued.push(l);
          else beat(l);
          l.nextBeat += interval * (opts.slip?.(l, beats++) ?? 1);
          while (l.nextBeat <= t) l.nextBeat += interval;
        }
      }
      wasReachable = up;
      if (!paused && t % sweepMs === 0) {
        const live = leases.filter((l) => l.expiredAt === undefined);
        guard.observe(t, { renewed: renewed.count(t), leases: live.length });
        for (const l of live) {
          if (!guard.mayExpire(l.deadline, l.ttlMs, t)) continue;
          l.expiredAt = t;
          renewed.remove(renewedUntil(l.deadline, l.ttlMs));
        }
        for (const l of queued.splice(0)) if (l.expiredAt === undefined) beat(l);
      }
    }
  };
  return { leases, log, guard, run, now: () => t };
}

const expired = (s: Sim) => s.leases.filter((l) => l.expiredAt !== undefined);

describe("ExpiryGuard (SEMANTICS 2.6)", () => {
  it("2.6 a partition of every client for 6 s with TTL 3 s expires no lease, during it or after it heals", () => {
    const s = simulate({ n: 500, ttlMs: 3000, reachable: (t) => t < 10_000 || t >= 16_000 });
    s.run(30_000);
    assert.equal(expired(s).length, 0);
    const starts = s.log.filter((e) => e.active);
    assert.equal(starts.length, 1);
    // Half the leases are without a renewal 1.5 beat intervals after the cut; the first lease lapses only after 2.
    assert.ok(starts[0]!.t >= 10_000 && starts[0]!.t < 12_000, `protection started at ${starts[0]!.t}`);
    assert.equal(s.guard.active, false, "protection ends once renewals are back");
  });

  it("2.6 a stall of the registry itself (nothing runs for 2 s, TTL 1.5 s) holds every lease past due when it wakes", () => {
    const s = simulate({ n: 100, ttlMs: 1500, stalled: (t) => t >= 5000 && t < 7000 });
    s.run(20_000);
    assert.equal(expired(s).length, 0);
    assert.deepEqual(s.log.map((e) => [e.t, e.active]).slice(0, 1), [[7000, true]]);
  });

  it("2.6 when 90 % of the fleet really dies, protection holds them for at most max-hold, then they expire and the guard says so", () => {
    const s = simulate({ n: 200, ttlMs: 3000, dies: (l) => (l.id % 10 !== 0 ? 10_000 : undefined), guard: { maxHoldMs: 20_000 } });
    s.run(10_000 + 19_000);
    assert.equal(expired(s).length, 0, "held during the hold");
    assert.equal(s.guard.active, true);
    const start = s.log.find((e) => e.active)!.t;
    s.run(start + 20_000 + 500);
    const gone = expired(s);
    assert.equal(gone.length, 180);
    assert.ok(gone.every((l) => l.dead));
    const end = s.log.at(-1)!;
    assert.equal(end.active, false);
    assert.match(end.detail, /longest allowed.*expire now/);
    // Survivors stay, and protection does not start again on the smaller fleet.
    s.run(start + 60_000);
    assert.equal(expired(s).length, 180);
    assert.equal(s.guard.active, false);
  });

  it("2.6 gradual churn (10 % die) expires them normally, within TTL + 1 s of their last beat", () => {
    const s = simulate({ n: 300, ttlMs: 3000, dies: (l) => (l.id % 10 === 3 ? 5000 + l.id * 10 : undefined) });
    s.run(20_000);
    const gone = expired(s);
    assert.equal(gone.length, 30);
    for (const l of gone) assert.ok(l.expiredAt! - l.lastBeat <= 3000 + 1000, `lease ${l.id} expired ${l.expiredAt! - l.lastBeat} ms after its last beat`);
    assert.equal(s.log.length, 0, "no protection");
  });

  it("2.6 a lease that fell due during protection and whose client is gone expires one TTL after protection ends", () => {
    const s = simulate({ n: 100, ttlMs: 3000, reachable: (t) => t < 10_000 || t >= 16_000, dies: (l) => (l.id === 7 ? 9800 : undefined) });
    s.run(30_000);
    const gone = expired(s);
    assert.deepEqual(gone.map((l) => l.id), [7]);
    const end = s.log.find((e) => !e.active)!.t;
    assert.ok(gone[0]!.expiredAt! >= end + 3000 && gone[0]!.expiredAt! <= end + 3000 + 200, `expired at ${gone[0]!.expiredAt}, protection ended at ${end}`);
  });

  it("2.6 a renewal rate hovering about the threshold cannot hold a dead lease for ever by flapping", () => {
    const log: boolean[] = [];
    const g = new ExpiryGuard({ threshold: 0.5, minLeases: 10, flapWindowMs: 10_000, maxHoldMs: 15_000, onChange: (a) => log.push(a) }, 0);
    // 200 leases; from 10 s the share renewed swings between 40 % and 60 % every 2 s.
    let freed: number | undefined;
    for (let t = 0; t <= 60_000 && freed === undefined; t += 100) {
      const share = t < 10_000 ? 1 : Math.floor(t / 2000) % 2 === 0 ? 0.4 : 0.6;
      g.observe(t, { renewed: 200 * share, leases: 200 });
      if (g.mayExpire(18_000, 3000, t)) freed = t;
    }
    assert.ok(freed !== undefined && freed <= 10_000 + 15_000 + 3000 + 1000, `a lease due at 18 s was freed at ${freed}`);
    assert.ok(log.length >= 2);
  });

  // Timers slip by up to half a beat interval on a loaded machine (every beat late by 0-50 %), or clients beat faster than TTL/3.
  const slipping = (l: SimLease, k: number) => 1 + (((l.id * 31 + k * 17) % 100) / 100) * 0.5;
  const faster = () => 0.5;

  for (const [how, slip] of [["timers slipping up to half a beat interval", slipping], ["clients beating twice as often", faster]] as const) {
    it(`2.6 with ${how}, 30 % of the fleet really dying is not protection: they expire within TTL + 1 s, the rest stay`, () => {
      const s = simulate({ n: 300, ttlMs: 3000, slip, dies: (l) => (l.id % 10 < 3 ? 8000 : undefined) });
      s.run(20_000);
      const gone = expired(s);
      assert.equal(gone.length, 90);
      assert.ok(gone.every((l) => l.dead));
      for (const l of gone) assert.ok(l.expiredAt! - l.lastBeat <= 3000 + 1000, `lease ${l.id} expired ${l.expiredAt! - l.lastBeat} ms after its last beat`);
      assert.equal(s.log.length, 0, "no protection");
    });

    it(`2.6 with ${how}, after a stall the survivors end protection even with a quarter dead, and the dead expire one TTL later`, () => {
      const s = simulate({ n: 200, ttlMs: 1500, slip, stalled: (t) => t >= 5000 && t < 7000, dies: (l) => (l.id % 4 === 0 ? 4500 : undefined) }); // due during the stall
      s.run(7000 + 200);
      assert.equal(s.log[0]?.active, true, "protection on waking");
      s.run(20_000);
      assert.deepEqual(s.log.map((e) => e.active), [true, false]);
      const end = s.log[1]!.t;
      assert.ok(end <= 7000 + 1000, `protection ended at ${end}`);
      const gone = expired(s);
      assert.equal(gone.length, 50);
      assert.ok(gone.every((l) => l.dead && l.expiredAt! >= end + 1500 && l.expiredAt! <= end + 1500 + 200));
    });
  }

  it("2.6 the renewed-lease count follows renewals, removals and passing windows, and a renewal counts a lease once", () => {
    const r = new RenewedLeases(100, 0);
    r.add(1000);
    r.add(1050);
    r.move(1000, 2000); // renewed: counted once, in its new window
    r.move(2000, 2010); // renewed again within the same bucket
    assert.equal(r.count(500), 2);
    assert.equal(r.count(1100), 1, "the lease whose window ended dropped out");
    r.remove(1050); // already out: no effect
    assert.equal(r.count(1100), 1);
    r.remove(2010);
    assert.equal(r.count(1100), 0);
    r.add(50_000);
    assert.equal(r.count(1_000_000), 0, "a long jump drops every passed bucket");
    r.add(999_000); // a window already over counts for nothing
    assert.equal(r.count(1_000_000), 0);
  });

  it("2.6 threshold 1 disables protection and under min-leases it does not apply", () => {
    for (const guard of [{ threshold: 1 }, { minLeases: 1000 }]) {
      const s = simulate({ n: 100, ttlMs: 3000, reachable: (t) => t < 5000, guard });
      s.run(10_000);
      assert.equal(expired(s).length, 100);
      assert.equal(s.log.length, 0);
    }
  });

  it("2.6 leases due at start get one TTL of grace, and grantGrace gives the same after a backend outage", () => {
    const g = new ExpiryGuard({ threshold: 0.5, minLeases: 10, flapWindowMs: 10_000, maxHoldMs: 60_000 }, 1000);
    assert.equal(g.mayExpire(500, 3000, 2000), false);
    assert.equal(g.mayExpire(500, 3000, 4000), true);
    assert.equal(g.mayExpire(1500, 3000, 2000), true, "a lease due after the start has no grace");
    g.grantGrace(5000);
    assert.equal(g.mayExpire(4500, 3000, 7000), false);
    assert.equal(g.expiresAt(4500, 3000), 8000);
    assert.equal(g.mayExpire(4500, 3000, 8000), true);
  });
});
