import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { version } from "../version.js";
import { addClientCommands } from "./client-commands.js";
import { addClientOptions } from "./client-options.js";
import { exitCodes, type CliIo } from "./io.js";
import { addServeCommand } from "./serve-command.js";

export type { CliIo } from "./io.js";

/**
 * The `roster` command tree, writing to `io`. Building it loads commander and
 * the command definitions only; each command imports what it needs when it
 * runs.
 */
export function createProgram(io: CliIo): Command {
  const program = new Command("roster")
    .description("Roster: a service registry. `roster serve` runs one; the other commands talk to one.")
    .version(version, "-V, --version")
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "--registry, --namespace and --json may stand before or after the command name.",
        "--registry takes one address or a comma-separated list, tried in order.",
        "Exit codes: 0 ok; 1 the registry refused or was unreachable, printed as",
        "`error: <gRPC code>: <message>`; 2 bad usage or configuration.",
      ].join("\n"),
    );
  addClientOptions(program);
  addServeCommand(program, io);
  addClientCommands(program, io);
  return program;
}

/**
 * Runs `roster` with `argv` (without node and script) and resolves to the
 * exit code, never exiting the process itself: tests call it in-process.
 *
 * @example
 * const code = await run(["ls", "--json"], { stdout, stderr, env: {}, signal });
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await createProgram(io).parseAsync([...argv], { from: "user" });
    return exitCodes.ok;
  } catch (e) {
    // Help and --version end with exit code 0; a usage error has already been printed.
    if (e instanceof CommanderError) return e.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    const { failureReport } = await import("./failure.js");
    const { code, line } = failureReport(e, io.signal.aborted);
    io.stderr.write(line);
    return code;
  }
}

/**
 * The process entry point: the first SIGINT/SIGTERM asks the running command
 * to stop (serve shuts down gracefully, watch ends), a second exits at once.
 */
export async function main(): Promise<never> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal });
  process.exit(code);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
