import type * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { cancelled } from "../../errors.js";
import { resetCodeFor } from "../call-context.js";
import { statusFields } from "./grpc-status.js";

/** Frames a message as a gRPC envelope (uncompressed). */
export function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(5 + body.length);
  f[0] = 0;
  f.writeUInt32BE(body.length, 1);
  f.set(body, 5);
  return f;
}

/**
 * The response side of one gRPC call on a raw HTTP/2 stream: headers once,
 * envelopes, then trailers (or a trailers-only answer). Trailers go through
 * the compatibility response, whose own 'wantTrailers' listener sends them.
 */
export class Reply {
  #headersSent = false;
  #ended = false;
  #waiting = false;
  /**
   * @param maxBufferedBytes Bytes queued on the stream (not yet taken by the client) past which a send waits:
   *   max-stream-buffer-bytes. Fullness is judged by `writableLength` against this bound, not by `write()`'s
   *   return, which on Node >= 22 (64 KiB default buffers) stays true long after the client stopped reading.
   */
  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly res: http2.Http2ServerResponse,
    readonly maxBufferedBytes: number,
  ) {}

  /** True while a message waits for a client that is not taking what was sent. */
  get stuck(): boolean {
    return this.#waiting;
  }

  /**
   * Writes one envelope (or several framed back to back); when more than
   * `maxBufferedBytes` are then queued on the stream, waits until the client
   * has taken them, the stream closes or `signal` aborts (then throws its reason).
   */
  async send(envelope: Buffer, signal: AbortSignal): Promise<void> {
    this.#headers();
    if (this.stream.destroyed) throw signal.reason ?? cancelled("the stream closed");
    let flushed = false;
    let wake: (() => void) | undefined;
    // A write's callback runs once HTTP/2 has sent its bytes (flow control permitting), so every earlier write is out too.
    this.stream.write(envelope, () => {
      flushed = true;
      wake?.();
    });
    if (this.stream.writableLength <= this.maxBufferedBytes) return;
    this.#waiting = true;
    try {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off("close", done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        if (flushed) return done();
        wake = done;
        this.stream.once("close", done);
        signal.addEventListener("abort", done, { once: true });
      });
    } finally {
      wake = undefined;
      this.#waiting = false;
    }
    signal.throwIfAborted();
  }

  /** Writes one envelope at once when nothing waits and the stream has room (see `CallContext.offer`); false leaves it to `send`. */
  offer(envelope: Buffer): boolean {
    if (this.#waiting || this.#ended || this.stream.destroyed || this.stream.writableLength > this.maxBufferedBytes) return false;
    this.#headers();
    this.stream.write(envelope);
    return true;
  }

  /** Ends the call with a status: trailers after the messages, or a trailers-only answer. */
  end(error: ConnectError | undefined): void {
    if (this.#ended || this.stream.destroyed || this.stream.closed) return;
    this.#ended = true;
    const trailers = statusFields(error);
    if (!this.#headersSent) {
      this.stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      return;
    }
    this.res.addTrailers(trailers);
    this.stream.end();
  }

  /** Ends the call at once, dropping what is buffered: a reset whose code says why (see `CallContext.end`). */
  reset(reason: unknown): void {
    if (this.#ended || this.stream.destroyed) return;
    this.#ended = true;
    this.stream.close(resetCodeFor(reason));
  }

  #headers(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  }
}
