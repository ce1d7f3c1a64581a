import type { RosterError } from "../../errors.js";
import { unauthenticated } from "../../errors.js";
import type { Principal } from "./authenticator.js";

const maxTimerMs = 2 ** 31 - 1;

/**
 * Calls `onExpired` with an UNAUTHENTICATED error when `principal`'s
 * credential expires (at once if it already has); never for a credential
 * without an expiry. Returns the function that cancels it. Every stream that
 * must end with its credential (Watch, Heartbeat, ADS) uses this one timer.
 */
export function whenCredentialExpires(principal: Principal, clock: () => number, onExpired: (reason: RosterError) => void): () => void {
  const at = principal.expiresAt;
  if (at === undefined) return () => {};
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = at - clock();
    if (left > 0) {
      // setTimeout fires at once beyond 2^31-1 ms (about 24 days); a far expiry is reached in steps.
      timer = setTimeout(arm, Math.min(left, maxTimerMs));
      return;
    }
    onExpired(unauthenticated(`the credential of ${principal.name} expired`));
  };
  arm();
  return () => clearTimeout(timer);
}
