import { Option, type Command } from "commander";
import { defaultConfig, settings, type Setting } from "../config.js";
import type { CliIo } from "./io.js";

function defaultOf(s: Setting): unknown {
  return s.path.length === 2 ? (defaultConfig[s.path[0]] as unknown as Record<string, unknown>)[s.path[1]] : defaultConfig[s.path[0]];
}

/**
 * `serve`: one flag per setting of `settings`, each falling back to its
 * environment variable. The server itself is imported only when the command
 * runs, so the client commands and --help never load it.
 */
export function addServeCommand(program: Command, io: CliIo): void {
  const cmd = program
    .command("serve")
    .description("run a registry node")
    .addHelpText("after", "\nEvery flag falls back to its environment variable, then to the default shown.\nSIGTERM or Ctrl-C shuts down gracefully; a second one exits at once.");
  const options = settings.map((s) => {
    const fallback = defaultOf(s);
    const option = new Option(`--${s.flag} <${typeof fallback === "number" ? "n" : "value"}>`, `${s.help} ($${s.env}, default ${JSON.stringify(fallback)})`);
    cmd.addOption(option);
    return [s.flag, option.attributeName()] as const;
  });
  cmd.action(async (opts: Record<string, string | undefined>) => {
    const flags = Object.fromEntries(options.map(([flag, attr]) => [flag, opts[attr]]));
    await (await import("./serve-action.js")).serve(io, flags);
  });
}
