import type { ChildProcess } from "node:child_process";

/** SIGKILLs a process (continuing it first if it was stopped) and waits for it to exit; nothing if it already has. */
export async function killProcess(p: ChildProcess | undefined): Promise<void> {
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGCONT");
  p.kill("SIGKILL");
  await exited;
}
