import { createContextKey } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { limitReached } from "../errors.js";

/** The context key under which each request carries its connection (HTTP/2 session or socket). */
export const connectionKey = createContextKey<object | undefined>(undefined, { description: "roster connection" });

/** The connection a Node request arrived on, for `contextValues`. */
export function connectionOf(req: http.IncomingMessage | http2.Http2ServerRequest): object {
  return "stream" in req && req.stream ? req.stream.session ?? req.socket : req.socket;
}

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
