import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GuardedSessionManager } from "./guarded-session-manager.js";
import type { PickStrategy } from "../core/pick.js";
import type { InstanceRecord } from "../core/types.js";
import { formatHostPort } from "../core/host-port.js";
import { RosterClientError } from "./roster-client-error.js";
import type { ServiceCache } from "./service-cache.js";

/** Options of `createBalancedTransport`. */
export interface BalancedTransportOptions {
  /** The cache that watches `service`. */
  readonly cache: ServiceCache;
  readonly service: string;
  /** Default round_robin. least_loaded counts this transport's own in-flight calls (see ServiceCache). */
  readonly strategy?: PickStrategy;
  /** Prefer healthy instances in this zone. */
  readonly preferZone?: string;
  /** Makes the transport to one instance; default gRPC over HTTP/2 with connect-node. */
  readonly createTransport?: (baseUrl: string) => Transport;
}

/**
 * A Connect transport that sends each call to an instance of a service,
 * picked locally from a ServiceCache, so a Connect client is balanced with no
 * proxy and no network call per pick. Each instance gets its own transport
 * (one HTTP/2 connection), made on first use and forgotten when the instance
 * leaves; connect-node closes the idle connection. When no instance can be
 * picked, a call fails with a ConnectError (UNAVAILABLE) whose cause is the
 * SDK's RosterClientError of kind `no_instance`.
 *
 * @example
 * const cache = new ServiceCache({ services: ["echo"] });
 * const echo = createClient(EchoService, createBalancedTransport({ cache, service: "echo" }));
 */
export function createBalancedTransport(options: BalancedTransportOptions): Transport {
  const { cache, service } = options;
  const strategy = options.strategy ?? "round_robin";
  const make = options.createTransport ?? ((baseUrl: string) => createGrpcTransport({ baseUrl, sessionManager: new GuardedSessionManager(baseUrl, { idleConnectionTimeoutMs: 30_000 }) }));
  const transports = new Map<string, Transport>();
  cache.on("instances", (s, list) => {
    if (s !== service) return;
    const live = new Set(list.map(baseUrlOf));
    for (const url of transports.keys()) if (!live.has(url)) transports.delete(url);
  });

  async function choose(signal: AbortSignal | undefined): Promise<{ transport: Transport; release: () => void }> {
    try {
      if (!cache.hasSnapshot(service)) await cache.ready(service, signal);
      const instance = cache.pick(service, strategy, { preferZone: options.preferZone ?? "" });
      if (instance === undefined) throw new RosterClientError("no_instance", `no healthy instance of ${cache.namespace}/${service}`);
      const url = baseUrlOf(instance);
      let transport = transports.get(url);
      if (transport === undefined) transports.set(url, (transport = make(url)));
      return { transport, release: cache.track(instance) };
    } catch (e) {
      // A transport speaks ConnectError to the Connect client above it: the SDK's edge on the calling side.
      throw RosterClientError.from(e).toConnectError();
    }
  }

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const { transport, release } = await choose(signal);
      try {
        return await transport.unary(method, signal, timeoutMs, header, input, contextValues);
      } finally {
        release();
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const { transport, release } = await choose(signal);
      try {
        const res = await transport.stream(method, signal, timeoutMs, header, input, contextValues);
        // A stream is in flight until its last response message, not until its headers.
        return { ...res, message: releasing(res.message, release) };
      } catch (e) {
        release();
        throw e;
      }
    },
  };
}

async function* releasing<T>(it: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  try {
    yield* it;
  } finally {
    release();
  }
}

function baseUrlOf(i: InstanceRecord): string {
  return `http://${formatHostPort(i.host, i.port)}`;
}
