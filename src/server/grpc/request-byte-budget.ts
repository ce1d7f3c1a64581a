import { limitReached } from "../../errors.js";
import type { ByteAccount } from "./envelope-reader.js";

/**
 * Caps the bytes of partly received request messages held for one connection
 * over all its streams (max-buffered-request-bytes-per-connection). Without
 * it, many streams each sending most of a large message and then stalling
 * would pin up to max-message-bytes per stream.
 */
export class RequestByteBudget {
  readonly #held = new WeakMap<object, number>();
  constructor(readonly max: number) {}

  /** The account of one connection, for its streams' readers. */
  account(conn: object): ByteAccount {
    return {
      take: (n) => {
        const held = this.#held.get(conn) ?? 0;
        if (held + n > this.max) {
          throw limitReached("max-buffered-request-bytes-per-connection", this.max, `the connection already holds ${held} bytes of unfinished requests`);
        }
        this.#held.set(conn, held + n);
      },
      give: (n) => this.#held.set(conn, Math.max(0, (this.#held.get(conn) ?? 0) - n)),
    };
  }

  /** Bytes held for a connection now. */
  heldBy(conn: object): number {
    return this.#held.get(conn) ?? 0;
  }
}
