import { limitReached } from "../errors.js";

/**
 * Caps the long-lived streams (Heartbeat, Watch) open on one connection, so
 * one client cannot hold all of a node's resources; over the cap a stream is
 * refused with RESOURCE_EXHAUSTED and the connection's other streams go on.
 */
export class StreamLimiter {
  readonly #open = new WeakMap<object, number>();
  constructor(readonly max: number) {}

  /** Takes a slot for the call's connection; the returned function gives it back. */
  acquire(conn: object | undefined): () => void {
    if (conn === undefined) return () => {};
    const n = this.#open.get(conn) ?? 0;
    if (n >= this.max) throw limitReached("max-streams-per-connection", this.max);
    this.#open.set(conn, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open.set(conn, (this.#open.get(conn) ?? 1) - 1);
    };
  }
}
