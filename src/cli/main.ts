import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConnectError } from "@connectrpc/connect";
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config.js";
import { version } from "../version.js";
import { addDeregisterCommand, addQueryCommands, addStatusCommand } from "./client-commands.js";
import { rpcErrorLine } from "./connection.js";
import { exitCodes, UsageError, type CliIo } from "./io.js";
import { addRegisterCommand } from "./register-command.js";
import { addServeCommand } from "./serve-command.js";
import { addWatchCommand } from "./watch-command.js";

export type { CliIo } from "./io.js";

/** The `roster` command tree, writing to `io`. */
export function createProgram(io: CliIo): Command {
  const program = new Command("roster")
    .description("Roster: a service registry. `roster serve` runs one; the other commands talk to one.")
    .version(version, "-V, --version")
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "Client commands talk to --registry (default $ROSTER_REGISTRY or http://127.0.0.1:7420).",
        "Exit codes: 0 ok; 1 the registry refused or was unreachable, printed as",
        "`error: <gRPC code>: <message>`; 2 bad usage or configuration.",
      ].join("\n"),
    );
  addServeCommand(program, io);
  addQueryCommands(program, io);
  addWatchCommand(program, io);
  addRegisterCommand(program, io);
  addDeregisterCommand(program, io);
  addStatusCommand(program, io);
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
    if (e instanceof CommanderError) {
      // Help and --version end with exit code 0; a usage error has already been printed.
      return e.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    if (e instanceof ConnectError) {
      if (io.signal.aborted) return exitCodes.rpc;
      io.stderr.write(rpcErrorLine(e));
      return exitCodes.rpc;
    }
    if (e instanceof ConfigError || e instanceof UsageError) {
      io.stderr.write(`error: ${e.message}\n`);
      return exitCodes.usage;
    }
    io.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return exitCodes.rpc;
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
