import type * as http2 from "node:http2";
import type * as net from "node:net";

type Http2Listener = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/**
 * The HTTP/1.1 connections (ALPN `http/1.1`, or no ALPN) of a TLS HTTP/2
 * listener that also takes HTTP/1.1. Why: `Http2SecureServer.close()` closes
 * HTTP/2 sessions and (Node >= 19) HTTP/1.1 connections idle at that moment,
 * but leaves one with a request in flight (a Connect Watch over HTTP/1.1)
 * open after its response ends, so a node would not finish closing until
 * the client let go. At `closeAll` an idle connection is ended at once, a
 * busy one as soon as its last response is done (later requests on it are
 * answered with `connection: close`), and any still open after `graceMs` is
 * destroyed.
 */
export class Http1Connections {
  readonly #active = new Map<net.Socket, number>();
  #closing = false;

  /** Follows `socket` if it speaks HTTP/1.1 (call on `secureConnection`). */
  add(socket: net.Socket & { alpnProtocol?: string | false | null }): void {
    if (socket.alpnProtocol === "h2") return;
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#active.set(socket, 0);
    socket.once("close", () => this.#active.delete(socket));
  }

  /** `onRequest`, counting the requests in flight on each HTTP/1.1 connection. */
  wrap(onRequest: Http2Listener): Http2Listener {
    return (req, res) => {
      const socket = "stream" in req && req.stream ? undefined : (req.socket as net.Socket);
      const n = socket === undefined ? undefined : this.#active.get(socket);
      if (socket !== undefined && n !== undefined) {
        this.#active.set(socket, n + 1);
        if (this.#closing) res.setHeader("connection", "close");
        res.once("close", () => {
          const left = (this.#active.get(socket) ?? 1) - 1;
          if (!this.#active.has(socket)) return;
          this.#active.set(socket, left);
          if (this.#closing && left === 0) socket.end();
        });
      }
      onRequest(req, res);
    };
  }

  /** Ends every idle connection now and every busy one when its responses are done; destroys what is left after `graceMs`. */
  closeAll(graceMs: number): void {
    this.#closing = true;
    for (const [socket, n] of this.#active) if (n === 0) socket.end();
    if (this.#active.size === 0) return;
    setTimeout(() => {
      for (const socket of this.#active.keys()) socket.destroy();
    }, graceMs).unref();
  }
}
