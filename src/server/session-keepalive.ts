import type * as http2 from "node:http2";

/** How often a connection is pinged, and how long it has to answer. */
export interface KeepaliveOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Told when a connection is dropped for not answering. */
  readonly onDead?: (session: http2.ServerHttp2Session) => void;
}

/**
 * Pings an HTTP/2 connection at an interval and destroys it when a ping goes
 * unanswered. A client that vanished without closing its connection (a
 * crashed host, a dropped NAT entry) would otherwise hold its Watch and
 * Heartbeat streams, and their queues, until TCP gave up many minutes later.
 * Returns the function that stops the pings.
 */
export function keepSessionAlive(session: http2.ServerHttp2Session, options: KeepaliveOptions): () => void {
  let waiting: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    if (waiting !== undefined || session.closed || session.destroyed) return;
    waiting = setTimeout(() => {
      options.onDead?.(session);
      session.destroy();
    }, options.timeoutMs);
    const sent = session.ping((err) => {
      clearTimeout(waiting);
      waiting = undefined;
      if (err && !session.destroyed) session.destroy();
    });
    if (!sent) {
      clearTimeout(waiting);
      waiting = undefined;
    }
  }, options.intervalMs);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    clearTimeout(waiting);
  };
  session.once("close", stop);
  return stop;
}
