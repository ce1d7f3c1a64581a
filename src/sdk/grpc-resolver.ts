import { Metadata, status as Status, experimental, type ChannelOptions } from "@grpc/grpc-js";
import type { BackoffOptions } from "../core/backoff.js";
import type { RegistryAddresses } from "./registry-endpoints.js";
import { parseRosterTarget, type RosterTarget } from "./roster-target.js";
import { ServiceCache } from "./service-cache.js";

/** The grpc-js channel option that names the registry for `roster:///` targets. */
export const registryChannelOption = "roster.registry";

/** The service config the resolver hands grpc-js unless the channel sets `grpc.service_config`. */
export const roundRobinServiceConfig = { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] };

/** Defaults of every `roster:` resolver in the process. */
export interface RosterResolverOptions {
  /**
   * Registry nodes, used when neither the target's authority nor the
   * channel option `roster.registry` names them; default ROSTER_REGISTRY,
   * then 127.0.0.1:7420.
   */
  readonly registry?: RegistryAddresses;
  /** Push-empty protection of each resolver's watch (see ServiceCacheOptions). */
  readonly protectEmptyMs?: number;
  readonly backoff?: BackoffOptions;
}

let defaults: RosterResolverOptions = {};

/**
 * A grpc-js resolver for `roster://[REGISTRY]/SERVICE?namespace=NS&tag=T&zone=Z&meta.K=V`.
 * Each channel gets its own Watch of the service, and every change to the
 * healthy instances is pushed to the channel's load balancer as it arrives,
 * so a deregistered instance stops getting calls as soon as the watch says
 * so. An empty list is pushed as empty (calls fail UNAVAILABLE) rather than
 * kept; a registry outage keeps the last list, since the instances are
 * likely still serving.
 */
class RosterResolver implements experimental.Resolver {
  readonly #target: RosterTarget;
  readonly #listener: experimental.ResolverListener;
  readonly #options: ChannelOptions;
  #cache: ServiceCache | undefined;
  #reported = false;
  #scheduled = false;

  constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
    this.#target = parseRosterTarget(target.authority, target.path);
    this.#listener = listener;
    this.#options = options;
  }

  updateResolution(): void {
    if (this.#cache === undefined) this.#start();
    else if (this.#reported) this.#schedule();
  }

  destroy(): void {
    void this.#cache?.close();
    this.#cache = undefined;
    this.#reported = false;
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return parseRosterTarget(target.authority, target.path).service;
  }

  #start(): void {
    const t = this.#target;
    const cache = new ServiceCache({
      registry: t.registry ?? (this.#options[registryChannelOption] as string | undefined) ?? defaults.registry,
      namespace: t.namespace,
      services: [{ service: t.service, tags: t.tags, metadata: t.metadata, zone: t.zone }],
      ...(defaults.protectEmptyMs !== undefined ? { protectEmptyMs: defaults.protectEmptyMs } : {}),
      ...(defaults.backoff !== undefined ? { backoff: defaults.backoff } : {}),
    });
    cache.on("instances", () => this.#schedule());
    cache.on("synced", () => this.#schedule());
    cache.on("reconnecting", (r) => {
      // Before the first list, a channel must learn the registry is unreachable so calls fail instead of hanging.
      if (!this.#reported && this.#cache === cache) {
        queueMicrotask(() => {
          if (this.#cache !== cache || this.#reported) return;
          this.#listener(
            experimental.statusOrFromError({ code: Status.UNAVAILABLE, details: `roster: cannot watch ${t.namespace}/${t.service} at ${r.registry}: ${r.error.message}`, metadata: new Metadata() }),
            {},
            null,
            "",
          );
        });
      }
    });
    this.#cache = cache;
  }

  // grpc-js forbids calling the listener synchronously from updateResolution; a burst of changes becomes one update.
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const cache = this.#cache;
      if (cache === undefined || !cache.hasSnapshot(this.#target.service)) return;
      this.#reported = true;
      const t = this.#target;
      const endpoints = cache.instances(t.service).map((i) => ({ addresses: [{ host: i.host, port: i.port }] }));
      const serviceConfig = this.#options["grpc.service_config"] === undefined ? experimental.statusOrFromValue(roundRobinServiceConfig) : null;
      this.#listener(experimental.statusOrFromValue(endpoints), {}, serviceConfig, endpoints.length === 0 ? `no healthy instance of ${t.namespace}/${t.service}` : "");
    });
  }
}

/**
 * Registers the `roster` scheme with grpc-js, so any grpc-js client can dial
 * `roster:///SERVICE`. Call once at start; calling again replaces the
 * defaults.
 *
 * @example
 * registerRosterResolver({ registry: "10.0.0.5:7420" });
 * const client = new EchoClient("roster:///echo?namespace=prod", grpc.credentials.createInsecure());
 */
export function registerRosterResolver(options: RosterResolverOptions = {}): void {
  defaults = options;
  experimental.registerResolver("roster", RosterResolver);
}
