import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Every way the registry refuses a request, in one place. Handlers and stores
 * throw `RosterError`s; `toConnectError` maps them to gRPC codes at the edge.
 */
export type RosterErrorKind =
  | "invalid_argument"
  | "not_found"
  | "resource_exhausted"
  | "unavailable"
  | "unimplemented"
  | "unauthenticated"
  | "permission_denied"
  | "deadline_exceeded"
  | "cancelled"
  | "internal";

const codes: Record<RosterErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  deadline_exceeded: Code.DeadlineExceeded,
  cancelled: Code.Canceled,
  internal: Code.Internal,
};

/** A domain error: a kind that decides the gRPC code, and a message for people. */
export class RosterError extends Error {
  override readonly name = "RosterError";
  constructor(
    readonly kind: RosterErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** A request field broke a rule; the message names the field. */
export function invalidArgument(field: string, problem: string): RosterError {
  return new RosterError("invalid_argument", `${field}: ${problem}`);
}

/** The named instance (or service) does not exist. */
export function notFound(what: string): RosterError {
  return new RosterError("not_found", `${what} not found`);
}

/** A configured limit was reached; the message names the limit and its value. */
export function limitReached(limit: string, value: number, detail = ""): RosterError {
  return new RosterError("resource_exhausted", `limit ${limit}=${value} reached${detail ? `: ${detail}` : ""}`);
}

/** The store cannot take writes right now; clients should retry. */
export function unavailable(message: string): RosterError {
  return new RosterError("unavailable", message);
}

/** No such RPC here: an unknown method of a served service, or a service this node does not serve. */
export function unimplemented(service: string, method: string, serviceKnown: boolean): RosterError {
  return new RosterError("unimplemented", serviceKnown ? `method ${method} of ${service} is not implemented` : `service ${service} is not served here`);
}

/** Missing, malformed, expired or unknown credentials. */
export function unauthenticated(message: string): RosterError {
  return new RosterError("unauthenticated", message);
}

/** A known principal without the right the call needs. */
export function permissionDenied(message: string): RosterError {
  return new RosterError("permission_denied", message);
}

/** The call ended because its client went away. */
export function cancelled(message: string): RosterError {
  return new RosterError("cancelled", message);
}

/**
 * A request that could not be decoded. The text is Connect's own ("parse
 * binary: ..."), so that every front end gives the same message, and the code
 * is INVALID_ARGUMENT everywhere (Connect alone would say INTERNAL; the front
 * ends correct that with `conformRefusal`).
 */
export function undecodable(detail: string): RosterError {
  return new RosterError("invalid_argument", `${DECODE_FAILURE_PREFIX}${detail}`);
}

const DECODE_FAILURE_PREFIX = "parse binary: ";

/** True for Connect's INTERNAL answer to a binary request it could not decode, which Roster answers with INVALID_ARGUMENT. */
export function isDecodeFailure(code: Code, message: string): boolean {
  return code === Code.Internal && message.startsWith(DECODE_FAILURE_PREFIX);
}

/** The name of the setting Connect's `readMaxBytes` enforces. */
const MAX_MESSAGE_BYTES = "max-message-bytes";

/** A request message over max-message-bytes, in the same words on every front end. */
export function messageTooLarge(limit: number, size: number | undefined): RosterError {
  return limitReached(MAX_MESSAGE_BYTES, limit, size === undefined ? "the request message is larger" : `the request message has ${size} bytes`);
}

// Connect's words for a message over readMaxBytes: with the size when it was known up front, or found after decompression.
const connectReadMaxBytes = /^message (?:size )?(?:(\d+) )?is larger than configured readMaxBytes (\d+)(?: after decompression)?$/;

/**
 * The refusal a client is told, given the one Connect made: Connect's own
 * refusals that Roster words differently are rewritten (an undecodable request
 * is INVALID_ARGUMENT, not INTERNAL; a message over readMaxBytes names
 * max-message-bytes), so that every front end answers a request alike. Any
 * other refusal comes back as it was.
 */
export function conformRefusal(code: Code, message: string): { code: Code; message: string } {
  if (isDecodeFailure(code, message)) return { code: Code.InvalidArgument, message };
  const tooLarge = code === Code.ResourceExhausted ? connectReadMaxBytes.exec(message) : null;
  if (tooLarge) return { code, message: messageTooLarge(Number(tooLarge[2]), tooLarge[1] === undefined ? undefined : Number(tooLarge[1])).message };
  return { code, message };
}

/** Maps any thrown value to the `ConnectError` a client receives. */
export function toConnectError(reason: unknown): ConnectError {
  if (isRosterError(reason)) {
    return new ConnectError(reason.message, codes[reason.kind]);
  }
  const err = ConnectError.from(reason);
  // Connect's own refusals in a request stream (Heartbeat's messages) are worded as every front end words them.
  const c = conformRefusal(err.code, err.rawMessage);
  return c.code === err.code && c.message === err.rawMessage ? err : new ConnectError(c.message, c.code);
}

/**
 * True for a RosterError. Checked by shape as well as class, because a module
 * loaded twice (as loaders may do for mixed static and dynamic imports) has two
 * RosterError classes.
 */
export function isRosterError(e: unknown): e is RosterError {
  return e instanceof RosterError || (e instanceof Error && e.name === "RosterError" && typeof (e as RosterError).kind === "string" && (e as RosterError).kind in codes);
}
