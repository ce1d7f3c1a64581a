/**
 * `roster/store`: the `Store` contract behind every registry node, the two
 * stores that implement it, and `createStore`, which picks one from a
 * server config. A store of your own implements `Store`, throws
 * `RosterError` for refusals (the server maps them to gRPC codes) and is done
 * when it passes the contract suite the built-in stores pass
 * (shipped as `roster/store/contract`).
 */
export { MemoryStore } from "./memory-store.js";
export { RedisStore } from "./redis-store.js";
export type { RedisStoreOptions } from "./redis-store.js";
export { createStore } from "./create-store.js";
export type { Caller } from "./caller.js";
export type { ChangeListener, RegisterResult, ServiceList, Store, StoreOptions, StoreStatus } from "./store.js";
export { RosterError, isRosterError } from "../errors.js";
export type { RosterErrorKind } from "../errors.js";
export type { Beat, Change, InstanceKey, InstanceRecord, InstanceSpec, RemovalCause, ServiceSummary, Snapshot } from "../core/types.js";
