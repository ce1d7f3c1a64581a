import { pino, type Logger } from "pino";
import type { ServerConfig } from "../config.js";
import { statusName, type Change } from "../core/types.js";
import type { Store } from "../store/store.js";

export type { Logger };

/** A JSON logger on stdout at the configured level. */
export function createLogger(level: ServerConfig["logLevel"]): Logger {
  return pino({ name: "roster", level });
}

/**
 * Logs one line per lifecycle event (register, deregister, expire) at info;
 * updates go to debug so heartbeat-driven status flips stay quiet by default.
 * Heartbeats themselves are never logged.
 */
export function logLifecycle(store: Store, log: Logger): () => void {
  return store.subscribe((c: Change) => {
    if (c.kind === "delete") {
      const i = c.prev;
      log.info({ event: c.cause, namespace: i.namespace, service: i.service, id: i.id, revision: Number(c.revision) }, c.cause);
    } else if (c.prev === undefined) {
      const i = c.instance;
      log.info(
        { event: "registered", namespace: i.namespace, service: i.service, id: i.id, address: `${i.host}:${i.port}`, ttlMs: i.ttlMs, revision: Number(c.revision) },
        "registered",
      );
    } else if (log.isLevelEnabled("debug")) {
      const i = c.instance;
      log.debug({ event: "updated", namespace: i.namespace, service: i.service, id: i.id, status: statusName(i.status), revision: Number(c.revision) }, "updated");
    }
  });
}
