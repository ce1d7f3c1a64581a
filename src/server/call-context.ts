import type * as http from "node:http";
import * as http2 from "node:http2";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import { isRosterError } from "../errors.js";
import type { Caller } from "../store/caller.js";

/** What a handler needs to know about its call, whichever front end (Connect or the gRPC fast path) carries it. */
export interface CallContext {
  /** Aborts when the client cancels, the deadline passes or the node shuts down (with UNAVAILABLE). */
  readonly signal: AbortSignal;
  /** The HTTP/2 session or socket the call arrived on, for per-connection limits. */
  readonly connection: object | undefined;
  /**
   * Ends a streaming call whose response is stuck behind a client that does
   * not read: the stream is reset at once (RST_STREAM with ENHANCE_YOUR_CALM
   * for RESOURCE_EXHAUSTED, which clients read as RESOURCE_EXHAUSTED), the
   * response bytes buffered for it are dropped and its slot is freed. When
   * nothing is stuck it does nothing: the producer is expected to throw
   * `reason` at its next step, which ends the call with trailers carrying the
   * message (the watch hub does both).
   */
  readonly end: (reason: unknown) => void;
  /**
   * Streaming calls only, and only on a front end that can: writes `message`
   * (a response message of the call) to the stream at once, outside the
   * handler's iteration, and returns true, when the front end is idle (it
   * has sent everything the handler yielded and waits for the next) and the
   * stream has room. Otherwise returns false and the producer yields the
   * message in order as usual. Why: a fan-out to thousands of idle watchers
   * then costs one encoded-once buffer write per stream, not a promise chain
   * through the handler's async generator per event per watcher.
   */
  readonly offer?: (message: object) => boolean;
  /**
   * With auth on, who writes an instance of `namespace` on this call (the
   * principal, and whether it is admin there), for the store's owner check;
   * absent when auth is off. Set by the guard (guardHandlers).
   */
  readonly caller?: (namespace: string) => Caller;
}

/** The context key under which each Connect request carries its connection (HTTP/2 session or socket). */
export const connectionKey = createContextKey<object | undefined>(undefined, { description: "roster connection" });

/** The context key under which each Connect request carries the way to end it at once (see `CallContext.end`). */
export const endCallKey = createContextKey<(reason: unknown) => void>(() => {}, { description: "roster end call" });

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** The connection a Node request arrived on. */
export function connectionOf(req: NodeRequest): object {
  return "stream" in req && req.stream ? req.stream.session ?? req.socket : req.socket;
}

/** The RST_STREAM code that tells a gRPC client why its stream was reset. */
export function resetCodeFor(reason: unknown): number {
  return isRosterError(reason) && reason.kind === "resource_exhausted" ? http2.constants.NGHTTP2_ENHANCE_YOUR_CALM : http2.constants.NGHTTP2_CANCEL;
}

/** Connect's `contextValues` for a Node request: its connection, and `end` acting on its HTTP/2 stream or (HTTP/1.1) socket. */
export function callContextValues(req: NodeRequest): ContextValues {
  const end = (reason: unknown) => {
    const stream = "stream" in req ? req.stream : undefined;
    // Only a response the client is not taking is cut; otherwise the handler's own throw ends the call with trailers.
    if ((stream ?? req.socket).writableLength === 0) return;
    if (stream) stream.close(resetCodeFor(reason));
    else req.socket.destroy();
  };
  return createContextValues().set(connectionKey, connectionOf(req)).set(endCallKey, end);
}
