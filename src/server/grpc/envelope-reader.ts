import { messageTooLarge, RosterError } from "../../errors.js";

/** One length-prefixed gRPC message: its flags byte and its bytes. */
export interface Envelope {
  readonly flags: number;
  readonly data: Buffer;
}

/** Where an `EnvelopeReader` books the bytes it holds (the connection's share, see `RequestByteBudget`). */
export interface ByteAccount {
  /** Books `n` more bytes; throws RosterError resource_exhausted when that would pass the limit. */
  take(n: number): void;
  /** Gives `n` bytes back. */
  give(n: number): void;
}

const HEADER = 5;

/**
 * Splits a request body into gRPC envelopes (flags byte, 4-byte length,
 * message) as chunks arrive. Each byte is copied at most once, into the
 * message it belongs to, so reassembly is linear in the message size; a
 * message larger than `maxMessageBytes` is refused as soon as its length
 * prefix is read, before any of it is kept; and the bytes held are booked on
 * `account`, so one connection cannot pin unbounded memory across streams.
 */
export class EnvelopeReader {
  readonly #chunks: Buffer[] = [];
  /** Index of the first chunk still held in `#chunks`. */
  #first = 0;
  #held = 0;
  /** The flags and length of the message being read, once its prefix is in. */
  #next: { flags: number; length: number } | undefined;

  constructor(
    readonly maxMessageBytes: number,
    readonly account: ByteAccount = { take() {}, give() {} },
  ) {}

  /** Bytes received and not yet handed out as a message. */
  get held(): number {
    return this.#held;
  }

  /** True when a message has begun and not ended: the body must not end here. */
  get partial(): boolean {
    return this.#held > 0 || this.#next !== undefined;
  }

  /**
   * Takes the next chunk of the body; returns the messages it completes.
   * Throws RosterError resource_exhausted for a message over the size limit or
   * when the connection holds too much.
   */
  push(chunk: Buffer): Envelope[] {
    if (chunk.length === 0) return [];
    this.account.take(chunk.length);
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    const out: Envelope[] = [];
    for (;;) {
      if (this.#next === undefined) {
        if (this.#held < HEADER) break;
        const head = this.#take(HEADER);
        const length = head.readUInt32BE(1);
        if (length > this.maxMessageBytes) {
          throw messageTooLarge(this.maxMessageBytes, length);
        }
        this.#next = { flags: head[0]!, length };
      }
      if (this.#held < this.#next.length) break;
      out.push({ flags: this.#next.flags, data: this.#take(this.#next.length) });
      this.#next = undefined;
    }
    return out;
  }

  /** The body ended: throws if it ended inside a message. */
  finish(): void {
    if (this.partial) throw new RosterError("invalid_argument", "protocol error: incomplete envelope");
  }

  /** Drops what is held and gives its bytes back to the account. */
  release(): void {
    this.account.give(this.#held);
    this.#chunks.length = 0;
    this.#first = 0;
    this.#held = 0;
    this.#next = undefined;
  }

  /** Removes the first `n` held bytes: a view when one chunk holds them, else one copy. */
  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.#held -= n;
    this.account.give(n);
    const first = this.#chunks[this.#first]!;
    if (first.length >= n) {
      this.#consume(first, n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[this.#first]!;
      const part = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, part);
      filled += part;
      this.#consume(c, part);
    }
    return out;
  }

  /** Drops `n` bytes from the front of chunk `c` (the first held). An index, not `shift()`, so a body sent in tiny frames stays linear. */
  #consume(c: Buffer, n: number): void {
    if (n < c.length) {
      this.#chunks[this.#first] = c.subarray(n);
      return;
    }
    this.#first++;
    if (this.#first === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#first = 0;
    } else if (this.#first >= 1024 && this.#first * 2 >= this.#chunks.length) {
      this.#chunks.splice(0, this.#first);
      this.#first = 0;
    }
  }
}
