import * as fs from "node:fs";
import { Code } from "@connectrpc/connect";
import { toConnectError } from "../../errors.js";

/** One audit line: who tried what on which instance, and how it ended. */
export interface AuditEntry {
  readonly principal: string | undefined;
  readonly method: string;
  /** `namespace/service/id`, or `namespace/service` / `namespace` for reads. */
  readonly target: string;
  /** "ok", or the gRPC code name of the refusal or failure. */
  readonly outcome: string;
}

/** The audit outcome of a refusal or failure: the name of the gRPC code it reaches the client with. */
export function outcomeOf(e: unknown): string {
  return Code[toConnectError(e).code] ?? "Unknown";
}

/** Where audit lines go. */
export type AuditSink = (entry: AuditEntry) => void;

/**
 * An audit sink for the `audit-log` setting: one JSON line per entry on
 * stderr, stdout or appended to a file, apart from the lifecycle log (which
 * is on stdout through pino), or nothing for "off". Returns the sink and the
 * function that closes a file.
 */
export function auditSink(destination: string, clock: () => number = Date.now): { write: AuditSink; close: () => void } {
  if (destination === "off") return { write: () => {}, close: () => {} };
  const fd = destination === "stderr" ? 2 : destination === "stdout" ? 1 : fs.openSync(destination, "a");
  return {
    write: (e) => fs.writeSync(fd, `${JSON.stringify({ audit: true, time: new Date(clock()).toISOString(), ...e })}\n`),
    close: () => {
      if (fd > 2) fs.closeSync(fd);
    },
  };
}
