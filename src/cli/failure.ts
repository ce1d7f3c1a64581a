import { Code, ConnectError } from "@connectrpc/connect";
import { ConfigError } from "../config.js";
import { exitCodes, UsageError } from "./io.js";

/** NOT_FOUND, RESOURCE_EXHAUSTED, ...: the canonical gRPC name of a code. */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * How a failed command is reported: its exit code and the line for stderr
 * (none when the user interrupted a call, which is not news to them).
 * A refusal reads `error: NOT_FOUND: instance default/user/x not found`.
 * Loaded only once a command has failed, so a successful one never pays for
 * the Connect runtime it did not use.
 */
export function failureReport(e: unknown, interrupted: boolean): { readonly code: number; readonly line: string } {
  if (e instanceof ConnectError) return { code: exitCodes.rpc, line: interrupted ? "" : `error: ${grpcCodeName(e.code)}: ${e.rawMessage}\n` };
  if (e instanceof ConfigError || e instanceof UsageError) return { code: exitCodes.usage, line: `error: ${e.message}\n` };
  return { code: exitCodes.rpc, line: `error: ${e instanceof Error ? e.message : String(e)}\n` };
}
