import { permissionDenied, type RosterError } from "../errors.js";

/**
 * Who makes a write, as the store sees it: the authenticated principal and
 * whether it holds admin in the instance's namespace. Undefined when auth is
 * off: no owner check, and new records get owner "".
 */
export interface Caller {
  readonly principal: string;
  readonly admin: boolean;
}

/** The refusal of a write to an instance another principal owns (issue 13). */
export function notOwner(key: string): RosterError {
  return permissionDenied(`instance ${key} belongs to another principal`);
}

/** True when `caller` may write an instance owned by `owner`: no auth, no owner yet (or a record from before owners), the owner itself, or an admin. */
export function mayWrite(owner: string | undefined, caller: Caller | undefined): boolean {
  return caller === undefined || !owner || caller.admin || caller.principal === owner;
}

/** The owner a new record gets: the caller's principal, or "" when auth is off. */
export function ownerOf(caller: Caller | undefined): string {
  return caller?.principal ?? "";
}
