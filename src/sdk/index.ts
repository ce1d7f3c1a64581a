/**
 * The Roster client SDK: keep instances registered (Registrar), keep a live
 * local copy of services (ServiceCache), and balance grpc-js and Connect
 * clients over them.
 */
export { Registrar, Registration } from "./registrar.js";
export type { CheckDeclaration, RegistrarEvents, RegistrarOptions, RegistrationEvents, RegistrationSpec, RegistrationState, ReconnectInfo } from "./registrar.js";
export { drain, drainOnSignal } from "./drain.js";
export type { DrainOnSignalOptions, DrainOptions, DrainTarget } from "./drain.js";
export { ServiceCache, defaultWatchIdleTimeoutMs } from "./service-cache.js";
export type { CacheChange, InstanceChange, PickOptions, ServiceCacheEvents, ServiceCacheOptions, StaleChange, WatchRetry, WatchTarget } from "./service-cache.js";
export { registerRosterResolver, registryChannelOption, roundRobinServiceConfig } from "./grpc-resolver.js";
export type { RosterResolverOptions } from "./grpc-resolver.js";
export { parseRosterTarget } from "./roster-target.js";
export type { RosterTarget } from "./roster-target.js";
export { createBalancedTransport } from "./connect-balancer.js";
export type { BalancedTransportOptions } from "./connect-balancer.js";
export { RosterClientError } from "./roster-client-error.js";
export type { RosterClientErrorKind } from "./roster-client-error.js";
export { keepaliveFor } from "./keepalive.js";
export type { Keepalive } from "./keepalive.js";
export { formatHostPort } from "../core/host-port.js";
export { Backoff, backoffDelay } from "../core/backoff.js";
export type { BackoffOptions } from "../core/backoff.js";
export { defaultRegistry, registryEnvVar } from "./registry-endpoints.js";
export { securityEnvVars, securityFromEnv } from "./client-security.js";
export type { ClientSecurity, TokenSource } from "./client-security.js";
export type { RegistryAddresses } from "./registry-endpoints.js";
export { InstanceStatus } from "../../gen/roster/v1/registry_pb.js";
export type { PickStrategy } from "../core/pick.js";
export type { InstanceRecord } from "../core/types.js";
