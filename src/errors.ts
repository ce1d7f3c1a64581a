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
  | "deadline_exceeded"
  | "cancelled"
  | "internal";

const codes: Record<RosterErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  unimplemented: Code.Unimplemented,
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

/** The call ended because its client went away. */
export function cancelled(message: string): RosterError {
  return new RosterError("cancelled", message);
}

/**
 * A request that could not be decoded. The text is Connect's own ("parse
 * binary: ..."), so that every front end gives the same message, and the code
 * is INVALID_ARGUMENT everywhere (Connect alone would say INTERNAL; the front
 * ends correct that with `isDecodeFailure`).
 */
export function undecodable(detail: string): RosterError {
  return new RosterError("invalid_argument", `${DECODE_FAILURE_PREFIX}${detail}`);
}

const DECODE_FAILURE_PREFIX = "parse binary: ";

/** True for Connect's INTERNAL answer to a binary request it could not decode, which Roster answers with INVALID_ARGUMENT. */
export function isDecodeFailure(code: Code, message: string): boolean {
  return code === Code.Internal && message.startsWith(DECODE_FAILURE_PREFIX);
}

/** Maps any thrown value to the `ConnectError` a client receives. */
export function toConnectError(reason: unknown): ConnectError {
  if (isRosterError(reason)) {
    return new ConnectError(reason.message, codes[reason.kind]);
  }
  const err = ConnectError.from(reason);
  // Connect's own decode failure in a request stream (Heartbeat's messages): the client's fault, not the server's.
  return isDecodeFailure(err.code, err.rawMessage) ? new ConnectError(err.rawMessage, Code.InvalidArgument) : err;
}

/**
 * True for a RosterError. Checked by shape as well as class, because a module
 * loaded twice (as loaders may do for mixed static and dynamic imports) has two
 * RosterError classes.
 */
export function isRosterError(e: unknown): e is RosterError {
  return e instanceof RosterError || (e instanceof Error && e.name === "RosterError" && typeof (e as RosterError).kind === "string" && (e as RosterError).kind in codes);
}
