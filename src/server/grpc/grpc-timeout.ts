import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { RosterError } from "../../errors.js";

// setTimeout fires at once for delays past 2^31-1 ms; a deadline that far out is no deadline.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The deadline a grpc-timeout header asks for, in milliseconds (undefined
 * when there is none or it is too far away to matter). A malformed value is
 * refused with INVALID_ARGUMENT and the message Connect gives, by the very
 * parser Connect uses, so both front ends answer alike.
 */
export function grpcTimeoutMs(header: string | undefined): number | undefined {
  const parsed = parseTimeout(header ?? null, Number.MAX_SAFE_INTEGER);
  if (parsed.error) throw new RosterError("invalid_argument", parsed.error.rawMessage);
  if (parsed.timeoutMs === undefined || parsed.timeoutMs > MAX_TIMER_MS) return undefined;
  return Math.max(1, Math.ceil(parsed.timeoutMs));
}
