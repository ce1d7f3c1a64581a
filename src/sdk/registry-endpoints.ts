import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, type Http2SessionManager } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import { securityFromEnv, sessionOptions, tokenInterceptors, type ClientSecurity } from "./client-security.js";
import { GuardedSessionManager } from "./guarded-session-manager.js";
import { keepaliveFor, type Keepalive } from "./keepalive.js";
import { RosterClientError } from "./roster-client-error.js";

/** One or more registry node addresses: `host:port` or `http(s)://host:port`, or a comma-separated list. */
export type RegistryAddresses = string | readonly string[];

/** The environment variable the SDK reads registry addresses from when none are given. */
export const registryEnvVar = "ROSTER_REGISTRY";

/** The address used when neither an option nor ROSTER_REGISTRY names one (the server's default port). */
export const defaultRegistry = "http://127.0.0.1:7420";

/** Keepalive of connections whose owner names none: the one for the default 10 s lease. */
export const defaultKeepalive: Keepalive = keepaliveFor(10_000);

/** A registry node the SDK talks to: its URL and a client on a shared HTTP/2 connection. */
export interface RegistryEndpoint {
  readonly url: string;
  /** The node's position in the failover order. */
  readonly index: number;
  readonly client: Client<typeof RegistryService>;
}

/**
 * Turns addresses into URLs: a bare `host:port` becomes `http://host:port`,
 * and a missing list falls back to ROSTER_REGISTRY, then the default port.
 */
export function registryUrls(addresses: RegistryAddresses | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = addresses ?? env[registryEnvVar] ?? defaultRegistry;
  const list = (typeof raw === "string" ? raw.split(",") : raw.flatMap((a) => a.split(","))).map((a) => a.trim()).filter((a) => a !== "");
  if (list.length === 0) throw new RosterClientError("invalid_option", "roster: no registry address given");
  return list.map((a) => (/^https?:\/\//.test(a) ? a.replace(/\/+$/, "") : `http://${a}`));
}

interface Connection extends RegistryEndpoint {
  readonly sessions: Http2SessionManager;
}

/**
 * The registry nodes of one Registrar or ServiceCache, with failover. Each
 * node gets one HTTP/2 connection per keepalive setting, which every stream
 * asking for that setting shares: a process whose instances share a TTL
 * opens one connection per node, not one per instance. Streams ask for
 * `current()` and report a broken node with `failover()`; the owner rotates
 * through the list in order.
 */
export class RegistryEndpoints {
  readonly #urls: string[];
  readonly #keepalive: Keepalive;
  readonly #security: ClientSecurity;
  readonly #connections = new Map<string, Connection>();
  #index = 0;

  /** `options.security` left out: from ROSTER_TLS_CA, ROSTER_TLS_CLIENT_CERT, ROSTER_TLS_CLIENT_KEY and ROSTER_TOKEN. */
  constructor(addresses?: RegistryAddresses, options: { readonly keepalive?: Keepalive; readonly security?: ClientSecurity } = {}) {
    this.#urls = registryUrls(addresses);
    this.#keepalive = options.keepalive ?? defaultKeepalive;
    this.#security = options.security ?? securityFromEnv();
  }

  /** The URLs, in failover order. */
  get urls(): readonly string[] {
    return this.#urls;
  }

  /**
   * The node in use now, on a connection pinged as `keepalive` says (default:
   * the one given to the constructor). A stalled node, or one that vanished
   * without a FIN, fails the connection's streams once a ping goes unanswered.
   */
  current(keepalive: Keepalive = this.#keepalive): RegistryEndpoint {
    const index = this.#index;
    const key = `${index}/${keepalive.pingIntervalMs}/${keepalive.pingTimeoutMs}`;
    let c = this.#connections.get(key);
    if (c === undefined) {
      const url = this.#urls[index]!;
      const sessions = new GuardedSessionManager(url, { ...keepalive, idleConnectionTimeoutMs: 60_000 }, sessionOptions(this.#security));
      const client = createClient(RegistryService, createGrpcTransport({ baseUrl: url, sessionManager: sessions, interceptors: tokenInterceptors(this.#security.token) }));
      c = { url, client, index, sessions };
      this.#connections.set(key, c);
    }
    return c;
  }

  /**
   * Moves on to the next node after `broken` failed. Several streams on the
   * same node fail together; only the first report moves, so they do not skip
   * a healthy node between them.
   */
  failover(broken: RegistryEndpoint): void {
    if (broken.index === this.#index) this.#index = (this.#index + 1) % this.#urls.length;
  }

  /** Closes every connection. */
  close(): void {
    for (const c of this.#connections.values()) c.sessions.abort();
    this.#connections.clear();
  }
}
