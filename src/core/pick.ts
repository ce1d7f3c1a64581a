import { InstanceStatus, serviceKeyString, type InstanceRecord } from "./types.js";

/** How one instance is chosen among several (SEMANTICS 5.2). */
export type PickStrategy = "round_robin" | "random" | "weighted" | "least_loaded";

/** What a picker needs of an instance: the registry's records and the SDK's cached copies both have it. */
export type Pickable = Pick<InstanceRecord, "namespace" | "service" | "status" | "weight" | "zone" | "load">;

/**
 * Chooses instances with a strategy. Round-robin counters live here, one per
 * service, so every caller of a service on one node shares the rotation.
 */
export class Picker {
  readonly #counters = new Map<string, number>();

  /**
   * Picks one healthy instance, preferring `preferZone` when it has a healthy
   * one. Returns undefined when none is healthy.
   * @param load overrides the instance's own reported load (the SDK passes its in-flight count).
   */
  pick<T extends Pickable>(candidates: readonly T[], strategy: PickStrategy, preferZone = "", load?: (i: T) => number): T | undefined {
    let pool = candidates.filter((i) => i.status === InstanceStatus.HEALTHY);
    if (pool.length === 0) return undefined;
    if (preferZone !== "") {
      const local = pool.filter((i) => i.zone === preferZone);
      if (local.length > 0) pool = local;
    }
    switch (strategy) {
      case "round_robin": {
        const first = pool[0]!;
        const key = serviceKeyString(first.namespace, first.service);
        const n = this.#counters.get(key) ?? 0;
        this.#counters.set(key, (n + 1) % 1_000_000_007);
        return pool[n % pool.length];
      }
      case "random":
        return pool[Math.floor(Math.random() * pool.length)];
      case "weighted": {
        let total = 0;
        for (const i of pool) total += i.weight;
        let r = Math.random() * total;
        for (const i of pool) {
          r -= i.weight;
          if (r < 0) return i;
        }
        return pool[pool.length - 1];
      }
      case "least_loaded": {
        const loadOf = load ?? ((i: T) => i.load);
        let best: T[] = [];
        let bestLoad = Infinity;
        for (const i of pool) {
          const l = loadOf(i);
          if (l < bestLoad) {
            bestLoad = l;
            best = [i];
          } else if (l === bestLoad) best.push(i);
        }
        // Ties are broken at random so equal instances share the traffic.
        return best[Math.floor(Math.random() * best.length)];
      }
    }
  }
}
