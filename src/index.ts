/**
 * Roster: a service registry for polyglot microservices.
 *
 * The server side (`startServer`, the stores) and the TypeScript client SDK
 * (`Registrar`, `ServiceCache`, the grpc-js resolver, the balanced Connect
 * transport). The generated API lives in `gen/roster/v1/registry_pb.ts`.
 */
export { startServer } from "./server/server.js";
export type { RosterServer, StartOptions } from "./server/server.js";
export { ConfigError, defaultConfig, defaultLimits, defaultTiming, loadConfig, resolveConfig, settings } from "./config.js";
export type { ConfigOverrides, Limits, ServerConfig, Setting, Timing } from "./config.js";
export { MemoryStore } from "./store/memory-store.js";
export { RedisStore } from "./store/redis-store.js";
export { createStore } from "./store/create-store.js";
export type { ChangeListener, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store/store.js";
export { RosterError, isRosterError, toConnectError } from "./errors.js";
export type { RosterErrorKind } from "./errors.js";
export type { Change, InstanceKey, InstanceSpec, RemovalCause, Snapshot } from "./core/types.js";
export { Picker } from "./core/pick.js";
export * from "./sdk/index.js";
