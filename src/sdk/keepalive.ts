/** How often an HTTP/2 connection to a registry node is pinged, and how long a ping may go unanswered. */
export interface Keepalive {
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
}

/** The shortest ping interval and timeout: below this, a busy event loop on either side looks like a dead node. */
export const minPingMs = 250;
/** The longest ping interval: a long lease still gets a connection checked twice a minute. */
export const maxPingIntervalMs = 30_000;
/** The longest ping timeout. */
export const maxPingTimeoutMs = 10_000;

/**
 * The keepalive that notices a node which stopped answering within a third of
 * `budgetMs` (a lease's TTL): a ping every budget/6, dead after another
 * budget/6 without an answer, clamped to [250 ms, 30 s] and [250 ms, 10 s].
 *
 * Why a third: the last beat a stalled node took may be up to one beat
 * interval (TTL/3) old when it stalls; detection takes at most TTL/3; the
 * first beat on the next node then renews the lease with a third of the TTL
 * to spare. Pings, not stream messages, are the signal because the Heartbeat
 * stream carries nothing back per beat, and a SIGSTOPped process's kernel
 * still accepts and acknowledges the bytes written to it.
 *
 * @example
 * keepaliveFor(10_000) // { pingIntervalMs: 1667, pingTimeoutMs: 1667 }: a stalled node is left within 3.4 s
 */
export function keepaliveFor(budgetMs: number): Keepalive {
  const sixth = Math.round(budgetMs / 6);
  return {
    pingIntervalMs: Math.min(maxPingIntervalMs, Math.max(minPingMs, sixth)),
    pingTimeoutMs: Math.min(maxPingTimeoutMs, Math.max(minPingMs, sixth)),
  };
}

/** The longest a connection can take to be found dead: one interval without traffic, then an unanswered ping. */
export function detectionMs(k: Keepalive): number {
  return k.pingIntervalMs + k.pingTimeoutMs;
}
