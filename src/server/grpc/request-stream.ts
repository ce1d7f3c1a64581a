import type * as http2 from "node:http2";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { RosterError, undecodable } from "../../errors.js";
import { EnvelopeReader } from "./envelope-reader.js";

/** Decodes one request message; undecodable bytes are INVALID_ARGUMENT with Connect's wording. */
export function decodeRequest(schema: DescMessage, bytes: Uint8Array): never {
  try {
    return fromBinary(schema, bytes) as never;
  } catch (e) {
    throw undecodable(e instanceof Error ? e.message : String(e));
  }
}

/**
 * The request side of one gRPC call on a raw HTTP/2 stream: its messages as
 * they arrive, through an `EnvelopeReader`. A failure (a limit, a compressed
 * message, the signal's abort) is kept and thrown at the next read, and the
 * rest of the body is discarded as it arrives, so nothing more is held.
 */
export class RequestStream {
  readonly #ready: Buffer[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  constructor(
    stream: http2.ServerHttp2Stream,
    readonly reader: EnvelopeReader,
    readonly kind: "unary" | "server-streaming" | "client-streaming",
    signal: AbortSignal,
  ) {
    // A shutdown or deadline ends a client stream that is waiting for its next message.
    signal.addEventListener("abort", () => this.#fail(signal.reason), { once: true });
    stream.on("data", (chunk: Buffer) => this.#push(chunk));
    stream.once("end", () => this.#finish());
    stream.once("close", () => this.#finish());
  }

  /** The one message of a unary or server-streaming request, once the client has finished sending. */
  async single(): Promise<Buffer> {
    while (!this.#ended && this.#error === undefined) await this.#next();
    if (this.#error !== undefined) throw this.#error;
    // The same refusal, in the same words, as Connect's.
    if (this.#ready.length === 0) throw new RosterError("unimplemented", `protocol error: missing input message for ${this.kind} method`);
    return this.#shift()!;
  }

  /** The messages of a client stream, decoded, as they arrive. */
  async *messages(schema: DescMessage): AsyncIterable<never> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const m = this.#shift();
      if (m !== undefined) {
        yield decodeRequest(schema, m);
        continue;
      }
      if (this.#ended) return;
      await this.#next();
    }
  }

  /** Hands out the first waiting message, giving its bytes back to the connection's account. */
  #shift(): Buffer | undefined {
    const m = this.#ready.shift();
    if (m !== undefined) this.reader.account.give(m.length);
    return m;
  }

  /** Drops every byte held for this call, whatever happens next; the call's `finally` runs it. */
  dispose(): void {
    this.reader.release();
    while (this.#shift() !== undefined);
  }

  #next(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #signal(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #fail(error: unknown): void {
    this.#error ??= error;
    this.dispose();
    this.#signal();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#error === undefined) {
      try {
        this.reader.finish();
      } catch (e) {
        this.#error = e;
      }
    }
    this.reader.release();
    this.#signal();
  }

  #push(chunk: Buffer): void {
    if (this.#error !== undefined || this.#ended) return;
    try {
      for (const env of this.reader.push(chunk)) {
        if (env.flags !== 0) throw new RosterError("internal", "received compressed envelope, but do not know how to decompress");
        if (this.kind !== "client-streaming" && this.#ready.length > 0) {
          throw new RosterError("unimplemented", `protocol error: received extra input message for ${this.kind} method`);
        }
        // Messages waiting for the handler stay booked on the connection until it takes them.
        this.reader.account.take(env.data.length);
        this.#ready.push(env.data);
      }
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#signal();
  }
}
