import type { AuditSink } from "./audit-log.js";
import { outcomeOf } from "./audit-log.js";
import type { Authenticator } from "./authenticator.js";
import { whenCredentialExpires } from "./credential-expiry.js";
import { allows } from "./policy.js";
import { currentScope } from "./request-scope.js";

/** What a stream outside RegistryService (ADS) was admitted with: whom it serves and which services it may read. */
export interface ReadGrant {
  /** The principal's name; undefined with auth off. */
  readonly principal: string | undefined;
  /**
   * True when the principal has the right Resolve and Watch of `namespace/service`
   * need (reader or workload of the namespace, or admin). A refusal is audited
   * once per service for the grant's life, so a client that asks again on
   * every ACK does not flood the audit log.
   */
  mayRead(namespace: string, service: string): boolean;
  /** Aborts, with UNAUTHENTICATED as its reason, when the credential expires; never with auth off. */
  readonly expired: AbortSignal;
  /** Stops the expiry timer; call when the stream ends. */
  close(): void;
}

/**
 * Admits a stream of `method` from the request being handled (see
 * `withRequestScope`): throws UNAUTHENTICATED, audited, without valid
 * credentials.
 */
export type ReadGate = (method: string) => Promise<ReadGrant>;

/** The gate with auth off: everybody reads everything. */
// A signal of its own per stream: one shared never-aborting signal would collect every stream's listener.
export const openReadGate: ReadGate = async () => ({ principal: undefined, mayRead: () => true, expired: new AbortController().signal, close: () => {} });

/**
 * The gate with auth on: the same authenticator, rights (`policy.allows`
 * with the `read` right) and audit log as the RegistryService guard, so a
 * principal reads the same services over ADS as through Resolve and Watch.
 */
export function readGate(auth: Authenticator, audit: AuditSink, clock: () => number = Date.now): ReadGate {
  return async (method) => {
    let principal;
    try {
      principal = await auth.authenticate(currentScope(), clock());
    } catch (e) {
      audit({ principal: undefined, method, target: "", outcome: outcomeOf(e) });
      throw e;
    }
    const p = principal;
    const expiry = new AbortController();
    const close = whenCredentialExpires(p, clock, (reason) => expiry.abort(reason));
    const refused = new Set<string>();
    return {
      principal: p.name,
      mayRead(namespace, service) {
        if (allows(p.roles, "read", namespace, service)) return true;
        const target = `${namespace}/${service}`;
        if (!refused.has(target)) {
          refused.add(target);
          audit({ principal: p.name, method, target, outcome: "PermissionDenied" });
        }
        return false;
      },
      expired: expiry.signal,
      close,
    };
  };
}
