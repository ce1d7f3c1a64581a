import { loadConfig } from "../config.js";
import { startServer } from "../server/server.js";
import { untilAborted, type CliIo } from "./io.js";

/**
 * Runs a registry node with the settings `flags` and the environment give,
 * until the first SIGTERM/SIGINT, then shuts it down gracefully (a second
 * signal is handled by the process entry point). Only `serve` loads this
 * module, and with it the server, the stores, pino and prom-client.
 */
export async function serve(io: CliIo, flags: Readonly<Record<string, string | undefined>>): Promise<void> {
  const server = await startServer(loadConfig(flags, io.env));
  await untilAborted(io.signal);
  await server.close();
}
