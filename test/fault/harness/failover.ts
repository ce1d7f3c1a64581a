/**
 * What the Redis failover rows (Sentinel, Cluster) do around the failover
 * itself: churn that measures the write outage, and when a node reloaded.
 */
import { clientFor, sleep } from "../../helpers/server.js";
import type { RosterNode } from "./processes.js";

/**
 * Writes through the nodes in turn until stopped, ignoring refusals (writes
 * fail during a failover): a Register, and a Deregister of one registered
 * earlier, so instances come and go. Measures the write outage: the longest
 * time from the first refused write of a run to the next accepted one.
 */
export function churn(nodes: RosterNode[]): { stop(): Promise<{ outageMs: number; writes: number }> } {
  const clients = nodes.map((n) => clientFor(n.url));
  let stopped = false;
  let outageMs = 0;
  let writes = 0;
  let refusedSince: number | undefined;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const c = clients[n % clients.length]!;
      const slot = n % 20;
      try {
        if (slot < 10) await c.register({ service: "pay", id: `churn-${slot}`, host: "10.0.0.9", port: 1 + slot }, { timeoutMs: 1000 });
        else await c.deregister({ service: "pay", id: `churn-${slot - 10}` }, { timeoutMs: 1000 });
        writes++;
        if (refusedSince !== undefined) outageMs = Math.max(outageMs, Date.now() - refusedSince);
        refusedSince = undefined;
      } catch {
        refusedSince ??= Date.now();
      }
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { outageMs, writes };
    },
  };
}

/** When `node` logged that it rebuilt its view after a loss (store_resync), if it did after `after`. */
export function resyncAt(node: RosterNode, after: number): number | undefined {
  for (const line of node.output().split("\n")) {
    if (!line.includes('"event":"store_resync"')) continue;
    const t = Number(/"time":(\d+)/.exec(line)?.[1]);
    if (t >= after) return t;
  }
  return undefined;
}
