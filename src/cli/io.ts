/** Where a command writes, what it reads, and when it should stop. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Environment variables for defaults (ROSTER_REGISTRY, ROSTER_NAMESPACE, server settings). */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Aborted on the first Ctrl-C / SIGTERM: `serve`, `watch` and
   * `register --keepalive` then shut down cleanly; other commands give up.
   */
  readonly signal: AbortSignal;
}

/** A bad command line (as opposed to a refusal by the registry): exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Exit codes of `roster`. */
export const exitCodes = {
  ok: 0,
  /** The registry refused or could not be reached (a gRPC error). */
  rpc: 1,
  /** A bad flag, argument or server setting. */
  usage: 2,
} as const;

/** Resolves once `signal` aborts (at once if it already has): how long-running commands wait for Ctrl-C. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
