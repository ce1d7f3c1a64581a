import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ServerConfig } from "../../config.js";
import type { Logger } from "../logger.js";
import type { RegistryHandlers } from "../registry-service.js";
import { auditSink } from "./audit-log.js";
import { Authenticator } from "./authenticator.js";
import { guardHandlers } from "./guard-handlers.js";
import { openReadGate, readGate, type ReadGate } from "./read-gate.js";
import { withRequestScope } from "./request-scope.js";
import { secureListeners, type SecureListeners } from "./secure-listeners.js";

/** Everything a node needs for TLS and auth, built from the configuration: what server.ts wires in. */
export interface NodeSecurity {
  readonly listeners: SecureListeners;
  /** The handlers every front end must call: `handlers` behind the auth guard, or `handlers` itself with auth off. */
  guard(handlers: RegistryHandlers): RegistryHandlers;
  /** Admits streams outside RegistryService (ADS) with the same credentials, read rights and audit log as the guard. */
  readonly readGate: ReadGate;
  /** Runs a front end's dispatch of `req` where the guard can see its credentials. */
  scoped<T>(req: http.IncomingMessage | http2.Http2ServerRequest, dispatch: () => T): T;
  /** Stops watching files and closes the audit log. */
  close(): void;
}

/** Builds a node's TLS listeners and, with `--auth` on, its authenticator, guard and audit log. */
export function nodeSecurity(config: ServerConfig, log: Logger): NodeSecurity {
  const reloadError = (what: string) => (e: unknown) => log.error({ event: "credential_reload_failed", what, err: String(e) }, `kept the previous ${what}: ${String(e)}`);
  const listeners = secureListeners(config, reloadError("TLS certificate"));
  if (config.auth === "off") {
    return { listeners, guard: (h) => h, readGate: openReadGate, scoped: (_req, dispatch) => dispatch(), close: () => listeners.close() };
  }
  const auth = new Authenticator(config, reloadError("policy or token file"));
  const audit = auditSink(config.auditLog);
  return {
    listeners,
    guard: (h) => guardHandlers(h, auth, audit.write),
    readGate: readGate(auth, audit.write),
    scoped: withRequestScope,
    close: () => {
      listeners.close();
      auth.close();
      audit.close();
    },
  };
}
