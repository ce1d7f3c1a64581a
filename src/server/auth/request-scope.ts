import { AsyncLocalStorage } from "node:async_hooks";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as tls from "node:tls";

/** What the guard needs to know about the request a handler runs for. */
export interface RequestScope {
  /** The `authorization` header, if any. */
  readonly authorization: string | undefined;
  /** The connection (HTTP/2 session or HTTP/1.1 socket), for caching what its certificate says. */
  readonly connection: object;
  /** The TLS socket the request came over, when it did. */
  readonly tls: tls.TLSSocket | undefined;
}

const scopes = new AsyncLocalStorage<RequestScope>();

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

function scopeOf(req: NodeRequest): RequestScope {
  const session = "stream" in req && req.stream ? req.stream.session : undefined;
  const socket = (session?.socket ?? req.socket) as unknown as Partial<tls.TLSSocket> | undefined;
  const auth = req.headers.authorization;
  return {
    authorization: typeof auth === "string" ? auth : undefined,
    connection: session ?? req.socket,
    tls: socket && typeof socket.getPeerCertificate === "function" ? (socket as tls.TLSSocket) : undefined,
  };
}

/**
 * Runs a front end's dispatch of `req` so that the handlers it calls, on any
 * front end (Connect, gRPC-Web, the plain-gRPC fast path), can see the
 * request's credentials through `currentScope`. Why async-local storage: the
 * handlers' call context carries no headers, and both front ends call the
 * one handler object from inside this dispatch.
 */
export function withRequestScope<T>(req: NodeRequest, dispatch: () => T): T {
  return scopes.run(scopeOf(req), dispatch);
}

/** The scope of the request being handled, or undefined outside any. */
export function currentScope(): RequestScope | undefined {
  return scopes.getStore();
}
