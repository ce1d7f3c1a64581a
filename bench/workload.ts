import type { Target } from "./clients.ts";
import type { RunningServer, SystemName } from "./servers.ts";

/** How big each workload is; `--quick` scales every count and duration down. */
export interface Scale {
  readonly quick: boolean;
  /** Pause before a measurement window, so start-up work and garbage from setup settle. */
  readonly settleMs: number;
  readonly register: { readonly instances: number; readonly services: number; readonly inFlight: number };
  /** `registerBudgetMs` bounds each step's registrations: a server too busy to finish them in time ends the ramp. */
  readonly heartbeat: { readonly steps: readonly number[]; readonly holdMs: number; readonly ttlSec: number; readonly registerBudgetMs: number };
  readonly resolve: { readonly instances: number; readonly callers: number; readonly ms: number };
  readonly fanout: { readonly sizes: readonly number[]; readonly reps: number };
  readonly expiry: { readonly instances: number; readonly ttlSec: number; readonly beatMs: number };
  readonly memory: { readonly instances: number; readonly watchers: number };
}

export const fullScale: Scale = {
  quick: false,
  settleMs: 2_000,
  register: { instances: 10_000, services: 1_000, inFlight: 64 },
  heartbeat: { steps: [1_000, 5_000, 10_000, 20_000, 50_000], holdMs: 30_000, ttlSec: 10, registerBudgetMs: 45_000 },
  resolve: { instances: 10, callers: 64, ms: 10_000 },
  fanout: { sizes: [1_000, 10_000], reps: 20 },
  expiry: { instances: 200, ttlSec: 2, beatMs: 500 },
  memory: { instances: 100_000, watchers: 10_000 },
};

export const quickScale: Scale = {
  quick: true,
  settleMs: 500,
  register: { instances: 600, services: 60, inFlight: 64 },
  heartbeat: { steps: [500, 1_500], holdMs: 2_000, ttlSec: 10, registerBudgetMs: 15_000 },
  resolve: { instances: 10, callers: 64, ms: 2_000 },
  fanout: { sizes: [500], reps: 5 },
  expiry: { instances: 10, ttlSec: 2, beatMs: 500 },
  memory: { instances: 2_000, watchers: 200 },
};

/**
 * The scale for one system. In the full run Roster on Redis ramps heartbeats
 * only to 10,000 and fills memory with 20,000 instances: the issue's
 * targets for those are on the memory store, and the whole run must stay
 * within about 15 minutes.
 */
export function scaleFor(scale: Scale, system: SystemName): Scale {
  if (scale.quick || system !== "roster-redis") return scale;
  return {
    ...scale,
    heartbeat: { ...scale.heartbeat, steps: scale.heartbeat.steps.filter((n) => n <= 10_000) },
    memory: { ...scale.memory, instances: 20_000 },
  };
}

/** What a workload gets: a fresh server of one system and a client for it. */
export interface Context {
  readonly target: Target;
  readonly server: RunningServer;
  readonly scale: Scale;
  log(message: string): void;
}

/** A workload's figures for one system: flat, JSON-ready. */
export type Metrics = Record<string, number | string | boolean | null | readonly object[]>;

export interface Workload {
  /** Short name, also the key in the JSON results. */
  readonly name: string;
  /** Streams per connection are bounded: how many channels the target should spread streams over. */
  readonly streamChannels: (scale: Scale) => number;
  run(ctx: Context): Promise<Metrics>;
}
