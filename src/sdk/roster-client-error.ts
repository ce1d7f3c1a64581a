import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Every way the SDK reports trouble, in one place:
 *
 * - `closed`: the Registrar or ServiceCache was closed.
 * - `aborted`: the caller's signal ended a wait.
 * - `refused`: the registry refused the request and a retry will not change
 *   the answer (a bad spec, no permission); `code` says why.
 * - `not_found`: the registry does not know the instance (SEMANTICS 2.4).
 * - `unavailable`: a registry node failed, could not be reached, or stopped
 *   answering in time; the SDK retries, on the next node.
 * - `no_instance`: no healthy instance of the service to send a call to.
 * - `invalid_option`: an SDK option or target is wrong.
 */
export type RosterClientErrorKind = "closed" | "aborted" | "refused" | "not_found" | "unavailable" | "no_instance" | "invalid_option";

// The codes a retry cannot fix: the request itself is wrong or not allowed.
const refusals = new Set([Code.InvalidArgument, Code.FailedPrecondition, Code.PermissionDenied, Code.Unauthenticated, Code.Unimplemented, Code.AlreadyExists, Code.OutOfRange]);

// The nearest gRPC code of the SDK's own conditions, for callers that sort errors by code.
const codes: Record<RosterClientErrorKind, Code> = {
  closed: Code.Canceled,
  aborted: Code.Canceled,
  refused: Code.FailedPrecondition,
  not_found: Code.NotFound,
  unavailable: Code.Unavailable,
  no_instance: Code.Unavailable,
  invalid_option: Code.InvalidArgument,
};

/**
 * The one error type the SDK throws and reports in its events. `kind` says
 * what happened; `code` is the registry's gRPC code when the registry
 * answered, and the nearest code otherwise; `cause` keeps the original
 * (usually a ConnectError) for logs.
 *
 * @example
 * registrar.on("reconnecting", (_r, { error }) => {
 *   if (error.kind === "unavailable") log.warn(error.message);
 * });
 */
export class RosterClientError extends Error {
  override readonly name = "RosterClientError";
  readonly kind: RosterClientErrorKind;
  readonly code: Code;

  constructor(kind: RosterClientErrorKind, message: string, options: { readonly code?: Code; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code ?? codes[kind];
  }

  /**
   * The SDK's form of anything a registry call threw: the boundary where a
   * ConnectError (or a network error) becomes a RosterClientError, once.
   */
  static from(reason: unknown): RosterClientError {
    if (reason instanceof RosterClientError) return reason;
    const e = ConnectError.from(reason);
    const kind: RosterClientErrorKind = e.code === Code.NotFound ? "not_found" : refusals.has(e.code) ? "refused" : e.code === Code.Canceled ? "aborted" : "unavailable";
    return new RosterClientError(kind, e.rawMessage, { code: e.code, cause: e });
  }

  /** The error as a Connect client expects it from a transport, keeping this one as its cause. */
  toConnectError(): ConnectError {
    return new ConnectError(this.message, this.code, undefined, undefined, this);
  }
}
