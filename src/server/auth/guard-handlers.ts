import type { HeartbeatRequest } from "../../../gen/roster/v1/registry_pb.js";
import { DEFAULT_NAMESPACE } from "../../core/types.js";
import type { CallContext } from "../call-context.js";
import type { RegistryHandlers } from "../registry-service.js";
import { outcomeOf, type AuditSink } from "./audit-log.js";
import { isRosterError, permissionDenied, unauthenticated } from "../../errors.js";
import type { Authenticator, Principal } from "./authenticator.js";
import { whenCredentialExpires } from "./credential-expiry.js";
import { allows, isAdmin } from "./policy.js";
import { requiredRights } from "./required-rights.js";
import { currentScope } from "./request-scope.js";

const nsOf = (ns: string) => (ns === "" ? DEFAULT_NAMESPACE : ns);

/**
 * Wraps the RegistryService handlers so that every call, on every front end,
 * is authenticated and checked against `requiredRights` before the handler
 * sees it: the one enforcement point. Writes and refusals are audited;
 * heartbeats are audited only when refused. A streaming call whose
 * credential expires is ended with UNAUTHENTICATED.
 */
export function guardHandlers(inner: RegistryHandlers, auth: Authenticator, audit: AuditSink, clock: () => number = Date.now): RegistryHandlers {
  async function authenticated(method: keyof RegistryHandlers, target: string): Promise<Principal> {
    try {
      return await auth.authenticate(currentScope(), clock());
    } catch (e) {
      audit({ principal: undefined, method, target, outcome: outcomeOf(e) });
      throw e;
    }
  }

  async function admit(method: keyof RegistryHandlers, namespace: string, service: string | undefined, target: string): Promise<Principal> {
    const principal = await authenticated(method, target);
    try {
      check(principal, method, namespace, service);
      return principal;
    } catch (e) {
      audit({ principal: principal.name, method, target, outcome: outcomeOf(e) });
      throw e;
    }
  }

  function check(p: Principal, method: keyof RegistryHandlers, namespace: string, service: string | undefined): void {
    if (!allows(p.roles, requiredRights[method], namespace, service)) {
      throw permissionDenied(`${p.name} may not ${method} in ${service === undefined ? `namespace ${namespace}` : `${namespace}/${service}`}`);
    }
  }

  /** The call carrying `p` as the writer of its instances, for the store's owner check (CallContext.caller). */
  function as(call: CallContext, p: Principal): CallContext {
    return { ...call, caller: (namespace) => ({ principal: p.name, admin: isAdmin(p.roles, namespace) }) };
  }

  /** The call with a signal that also aborts, with UNAUTHENTICATED, when the principal's credential expires. */
  function expiring(call: CallContext, p: Principal): { call: CallContext; dispose: () => void } {
    if (p.expiresAt === undefined) return { call, dispose: () => {} };
    const expiry = new AbortController();
    const dispose = whenCredentialExpires(p, clock, (reason) => {
      expiry.abort(reason);
      call.end(reason);
    });
    return { call: { ...call, signal: AbortSignal.any([call.signal, expiry.signal]) }, dispose };
  }

  async function audited<T>(p: Principal, method: string, target: string, run: () => Promise<T>): Promise<T> {
    try {
      const out = await run();
      audit({ principal: p.name, method, target, outcome: "ok" });
      return out;
    } catch (e) {
      audit({ principal: p.name, method, target, outcome: outcomeOf(e) });
      throw e;
    }
  }

  return {
    async register(req, call) {
      const ns = nsOf(req.namespace);
      const target = `${ns}/${req.service}/${req.id}`;
      const p = await admit("register", ns, req.service, target);
      return audited(p, "register", target, () => inner.register(req, as(call, p)));
    },

    async deregister(req, call) {
      const ns = nsOf(req.namespace);
      const target = `${ns}/${req.service}/${req.id}`;
      const p = await admit("deregister", ns, req.service, target);
      return audited(p, "deregister", target, () => inner.deregister(req, as(call, p)));
    },

    async heartbeat(reqs, call) {
      const principal = await authenticated("heartbeat", "");
      const { call: c, dispose } = expiring(as(call, principal), principal);
      let target = "";
      let refused = false;
      async function* checked(): AsyncIterable<HeartbeatRequest> {
        for await (const req of reqs) {
          if (req.service !== "" || req.id !== "" || req.namespace !== "") target = `${nsOf(req.namespace)}/${req.service}/${req.id}`;
          if (req.service !== "" || req.id !== "" || req.namespace !== "" || principal.expiresAt !== undefined) {
            const ns = nsOf(req.namespace);
            try {
              if (principal.expiresAt !== undefined && principal.expiresAt <= clock()) throw unauthenticated(`the credential of ${principal.name} expired`);
              // Later messages may leave the key empty (the same instance); the handler checks they do not change it.
              if (req.service !== "" || req.id !== "" || req.namespace !== "") check(principal, "heartbeat", ns, req.service);
            } catch (e) {
              refused = true;
              audit({ principal: principal.name, method: "heartbeat", target: `${ns}/${req.service}/${req.id}`, outcome: outcomeOf(e) });
              throw e;
            }
          }
          yield req;
        }
      }
      try {
        return await inner.heartbeat(checked(), c);
      } catch (e) {
        // The store's owner check (another principal's instance) is a refusal too.
        if (!refused && isRosterError(e) && e.kind === "permission_denied") audit({ principal: principal.name, method: "heartbeat", target, outcome: outcomeOf(e) });
        throw e;
      } finally {
        dispose();
      }
    },

    async *watch(req, call) {
      const ns = nsOf(req.namespace);
      const service = req.service === "" ? undefined : req.service;
      const p = await admit("watch", ns, service, service === undefined ? ns : `${ns}/${service}`);
      const { call: c, dispose } = expiring(call, p);
      try {
        yield* inner.watch(req, c);
      } finally {
        dispose();
      }
    },

    async resolve(req, call) {
      const ns = nsOf(req.namespace);
      await admit("resolve", ns, req.service, `${ns}/${req.service}`);
      return inner.resolve(req, call);
    },

    async listServices(req, call) {
      const ns = nsOf(req.namespace);
      await admit("listServices", ns, undefined, ns);
      return inner.listServices(req, call);
    },

    async getStatus(req, call) {
      await admit("getStatus", "", undefined, "");
      return inner.getStatus(req, call);
    },
  };
}
