import type * as http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

const ignore = (): void => {};

/**
 * An Http2SessionManager whose connections can never crash the host process.
 *
 * Connect's manager destroys a connection whose PING goes unanswered with an
 * error, and on a loaded machine that can happen after the manager has taken
 * its own "error" listener off the connection (it moved on to a new one): the
 * session then emits "error" with no listener and Node throws it as an
 * uncaught exception. Each connection that carries a stream gets one listener
 * that does nothing, because the manager and the streams on it already learn
 * of the failure through "close" and the streams' own errors.
 */
export class GuardedSessionManager extends Http2SessionManager {
  readonly #guarded = new WeakSet<http2.Http2Session>();

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const session = stream.session;
    if (session !== undefined && !this.#guarded.has(session)) {
      this.#guarded.add(session);
      session.on("error", ignore);
    }
    return stream;
  }
}
