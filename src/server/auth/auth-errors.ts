import { Code, ConnectError } from "@connectrpc/connect";

// These two belong in src/errors.ts as RosterError kinds ("unauthenticated", "permission_denied");
// src/errors.ts is not this change's to edit, so they are ConnectErrors, which toConnectError passes through unchanged.

/** Missing, malformed, expired or unknown credentials. */
export function unauthenticated(message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated);
}

/** A known principal without the right the call needs. */
export function permissionDenied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}
