/**
 * What redis-server spent, read from Redis itself for the fan-out benchmark on
 * the Redis store (issue 10): CPU from `INFO cpu` (used_cpu_sys +
 * used_cpu_user), bytes sent from `INFO stats` (total_net_output_bytes), the
 * change counter, and the change stream's memory (`MEMORY USAGE` over its
 * length). A quiet window before the measured one gives what the nodes cost
 * Redis with nothing changing (sweeps, health probes, member renewals), so the
 * figures per change can be given with that background taken out.
 */
import { Redis } from "ioredis";
import { redisKeys } from "../src/store/redis/scripts.ts";

/** Redis's counters at one moment. */
export interface RedisSample {
  /** used_cpu_sys + used_cpu_user, in milliseconds. */
  readonly cpuMs: number;
  /** total_net_output_bytes, less the INFO replies this module read before (they are not the nodes' traffic). */
  readonly netOutBytes: number;
  /** The registry's change counter ({prefix}:revision). */
  readonly revision: number;
  /** performance.now() when it was taken. */
  readonly at: number;
}

/** Redis usage between two samples, per change and as a rate. */
export interface RedisDelta {
  readonly wallMs: number;
  readonly changes: number;
  readonly cpuMs: number;
  readonly netOutBytes: number;
}

/** The change stream's size at one moment. */
export interface StreamSize {
  readonly entries: number;
  /** MEMORY USAGE of the stream with every node sampled (SAMPLES 0). */
  readonly bytes: number;
}

function infoField(info: string, name: string): number {
  const m = new RegExp(`^${name}:([0-9.]+)`, "m").exec(info);
  if (!m) throw new Error(`INFO has no ${name}`);
  return Number(m[1]);
}

/** Reads Redis's counters for the registry under `prefix` (Roster's default "roster"). */
export function redisUsage(url: string, prefix = "roster") {
  const client = new Redis(url, { protocol: 2, lazyConnect: false, maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  const keys = redisKeys(prefix);
  // Bytes of INFO replies this client made Redis send, so far.
  let ownBytes = 0;
  return {
    async sample(): Promise<RedisSample> {
      const info = String(await client.call("INFO", "cpu", "stats"));
      const revision = Number((await client.get(keys.revision)) ?? "0");
      const sample = {
        cpuMs: (infoField(info, "used_cpu_sys") + infoField(info, "used_cpu_user")) * 1000,
        netOutBytes: infoField(info, "total_net_output_bytes") - ownBytes,
        revision,
        at: performance.now(),
      };
      // The counter is read before the reply is written: this reply and the GET's count from the next sample on.
      ownBytes += Buffer.byteLength(info) + 16 + String(revision).length + 8;
      return sample;
    },
    async stream(): Promise<StreamSize> {
      const entries = Number(await client.xlen(keys.changes));
      const bytes = Number(await client.call("MEMORY", "USAGE", keys.changes, "SAMPLES", "0"));
      ownBytes += 32;
      return { entries, bytes };
    },
    close: () => client.disconnect(),
  };
}

/** What Redis used from `a` to `b`. */
export function redisDelta(a: RedisSample, b: RedisSample): RedisDelta {
  return { wallMs: b.at - a.at, changes: b.revision - a.revision, cpuMs: b.cpuMs - a.cpuMs, netOutBytes: b.netOutBytes - a.netOutBytes };
}
