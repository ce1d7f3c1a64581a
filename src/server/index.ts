/**
 * `roster/server`: run a registry node in-process.
 *
 * @example
 * import { resolveConfig, startServer } from "roster/server";
 * const server = await startServer(resolveConfig({ port: 7420 }));
 * // ...
 * await server.close();
 */
export { startServer } from "./server.js";
export type { RosterServer, StartOptions } from "./server.js";
export { ConfigError, defaultConfig, defaultLimits, defaultTiming, loadConfig, resolveConfig, settings } from "../config.js";
export type { ConfigOverrides, Limits, ServerConfig, Setting, Timing } from "../config.js";
export { RosterError, isRosterError, toConnectError } from "../errors.js";
export type { RosterErrorKind } from "../errors.js";
