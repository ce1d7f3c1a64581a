/**
 * `roster`: the TypeScript client SDK. Keep instances registered
 * (`Registrar`), keep a live local copy of services (`ServiceCache`), balance
 * grpc-js and Connect clients over them, and make one-shot calls to a list of
 * registry nodes (`RegistryClient`).
 *
 * Importing it loads no server code: no store, no ioredis, pino or
 * prom-client. The server is `roster/server`, the stores `roster/store`, the
 * generated API `roster/gen`.
 */
export * from "./sdk/index.js";
export { RegistryClient } from "./sdk/registry-client.js";
export { DEFAULT_NAMESPACE } from "./core/types.js";
export type { Change, InstanceKey, InstanceSpec, RemovalCause, Snapshot } from "./core/types.js";
