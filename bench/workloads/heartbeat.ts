import type { Beater } from "../clients.ts";
import { pool, sleep, window } from "../measure.ts";
import type { Workload } from "../workload.ts";

/** One step of the heartbeat ramp. */
export interface HeartbeatStep {
  readonly instances: number;
  /** Instances registered for the step: fewer than `instances` when registration ran out of its budget. */
  readonly registered: number;
  /** Time the step's registrations took, while the earlier instances kept beating. */
  readonly registerSec: number;
  /** Beats per second the generator sent during the hold. */
  readonly beatsPerSec: number;
  readonly cpuUsPerBeat: number;
  readonly serverCores: number;
  readonly generatorCores: number;
  readonly serverRssMiB: number;
  /** Instances the registry dropped while they were beating (stream ended NOT_FOUND / keepalive TTL 0, or missing at the end). */
  readonly falseExpiries: number;
  /** Longest time between two beats of one instance during the hold: above the TTL, a loss is the generator's fault. */
  readonly maxGapMs: number;
  /** True when the generator sent at least 95 % of the beats it should have. */
  readonly generatorKeptUp: boolean;
  /** Heartbeat streams that failed and were reopened (not losses by themselves). */
  readonly streamErrors: number;
  /** Why instances were lost or streams failed, with counts, over the whole ramp so far. */
  readonly lostReasons: readonly string[];
}

const perService = 100;

/** A step whose registrations did not finish within the budget: no hold was measured. */
const notReached = { beatsPerSec: NaN, cpuUsPerBeat: NaN, serverCores: NaN, generatorCores: NaN, serverRssMiB: NaN, maxGapMs: NaN, generatorKeptUp: false };

/**
 * Workload 2: ramp the number of instances that each beat once a second, hold
 * each step, and count instances the registry expired although they beat.
 * Beats go out in a fixed order at a steady rate (one per instance per
 * second), each instance on its own stream, streams spread over channels.
 */
export const heartbeat: Workload = {
  name: "heartbeat",
  streamChannels: (scale) => Math.max(4, Math.ceil(Math.max(...scale.heartbeat.steps) / 5_000)),
  async run({ target, server, scale, log }) {
    const { steps, holdMs, ttlSec, registerBudgetMs } = scale.heartbeat;
    const beaters: Beater[] = [];
    const lastBeat: number[] = [];
    const lost = new Set<number>();
    const reasons = new Map<string, number>();
    let sent = 0;
    let streamErrors = 0;
    let maxGap = 0;
    let cursor = 0;
    let credit = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      const n = beaters.length;
      credit += ((now - last) * n) / 1000;
      last = now;
      let k = Math.floor(credit);
      credit -= k;
      while (k-- > 0 && n > 0) {
        const i = cursor;
        cursor = (cursor + 1) % n;
        if (lost.has(i)) continue;
        beaters[i]!.beat();
        maxGap = Math.max(maxGap, now - lastBeat[i]!);
        lastBeat[i] = now;
        sent++;
      }
    }, 10);
    const results: HeartbeatStep[] = [];
    try {
      for (const n of steps) {
        const lostBefore = lost.size;
        const errorsBefore = streamErrors;
        const from = beaters.length;
        const regStart = performance.now();
        maxGap = 0;
        let overBudget = false;
        await pool(n - from, 64, async (j) => {
          if (performance.now() - regStart > registerBudgetMs) {
            overBudget = true;
            return;
          }
          const i = from + j;
          const reg = await target.register(`hb-${Math.floor(i / perService)}`, `inst-${i}`, ttlSec);
          // Slots are taken in order of completion, not by instance number.
          let slot = -1;
          const b = target.beater(reg, {
            onLost: (why) => {
              lost.add(slot);
              reasons.set(why, (reasons.get(why) ?? 0) + 1);
            },
            onStreamError: (why) => {
              streamErrors++;
              reasons.set(why, (reasons.get(why) ?? 0) + 1);
            },
          });
          slot = beaters.push(b) - 1;
          lastBeat.push(performance.now());
          b.beat();
        });
        const registerSec = (performance.now() - regStart) / 1000;
        if (overBudget) {
          // A gap above the TTL means the generator, not the registry, let leases lapse.
          log(
            `  ${n} instances: only ${beaters.length} registered in ${registerSec.toFixed(0)} s; ramp stopped, ` +
              `${lost.size - lostBefore} false expiries meanwhile, max beat gap ${maxGap.toFixed(0)} ms`,
          );
          results.push({
            ...notReached,
            instances: n,
            registered: beaters.length,
            registerSec,
            maxGapMs: maxGap,
            falseExpiries: lost.size - lostBefore,
            streamErrors: streamErrors - errorsBefore,
            lostReasons: [...reasons.entries()].map(([r, c]) => `${c}× ${r}`),
          });
          break;
        }
        await sleep(scale.settleMs);
        const sent0 = sent;
        maxGap = 0;
        const w = window(server.pids);
        await sleep(holdMs);
        const u = w.end();
        const beats = sent - sent0;
        const gap = maxGap;
        const present = await target.count();
        const missing = Math.max(0, n - lost.size - present);
        const step: HeartbeatStep = {
          instances: n,
          registered: n,
          registerSec,
          beatsPerSec: (beats * 1000) / u.wallMs,
          cpuUsPerBeat: (u.serverCpuMs * 1000) / beats,
          serverCores: u.serverCores,
          generatorCores: u.generatorCores,
          serverRssMiB: u.serverRss / 2 ** 20,
          falseExpiries: lost.size - lostBefore + missing,
          maxGapMs: gap,
          generatorKeptUp: beats >= 0.95 * (n - lost.size) * (u.wallMs / 1000),
          streamErrors: streamErrors - errorsBefore,
          lostReasons: [...reasons.entries()].map(([r, c]) => `${c}× ${r}`),
        };
        results.push(step);
        log(
          `  ${n} instances: ${step.beatsPerSec.toFixed(0)} beats/s, ${step.cpuUsPerBeat.toFixed(1)} µs/beat, ` +
            `server ${step.serverCores.toFixed(2)} cores, generator ${step.generatorCores.toFixed(2)}, ` +
            `${step.falseExpiries} false expiries, ${step.streamErrors} stream errors, max gap ${gap.toFixed(0)} ms, registered in ${registerSec.toFixed(0)} s`,
        );
        if (step.falseExpiries > 0 || !step.generatorKeptUp) break;
      }
    } finally {
      clearInterval(ticker);
      for (const b of beaters) b.close();
    }
    const held = results.filter((s) => s.falseExpiries === 0 && s.generatorKeptUp).map((s) => s.instances);
    return {
      heldInstances: held.length ? Math.max(...held) : 0,
      steps: results,
    };
  },
};
