import { createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";

/** One or more registry node addresses: `host:port` or `http(s)://host:port`, or a comma-separated list. */
export type RegistryAddresses = string | readonly string[];

/** The environment variable the SDK reads registry addresses from when none are given. */
export const registryEnvVar = "ROSTER_REGISTRY";

/** The address used when neither an option nor ROSTER_REGISTRY names one (the server's default port). */
export const defaultRegistry = "http://127.0.0.1:7420";

/** A registry node the SDK talks to: its URL and a client on its shared HTTP/2 connection. */
export interface RegistryEndpoint {
  readonly url: string;
  readonly client: Client<typeof RegistryService>;
}

/**
 * Turns addresses into URLs: a bare `host:port` becomes `http://host:port`,
 * and a missing list falls back to ROSTER_REGISTRY, then the default port.
 */
export function registryUrls(addresses: RegistryAddresses | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = addresses ?? env[registryEnvVar] ?? defaultRegistry;
  const list = (typeof raw === "string" ? raw.split(",") : raw.flatMap((a) => a.split(","))).map((a) => a.trim()).filter((a) => a !== "");
  if (list.length === 0) throw new Error("roster: no registry address given");
  return list.map((a) => (/^https?:\/\//.test(a) ? a.replace(/\/+$/, "") : `http://${a}`));
}

/**
 * The registry nodes of one Registrar or ServiceCache, with failover. Each node
 * gets one HTTP/2 connection that every stream of the owner shares, so a
 * process with many instances opens one connection per node, not one per
 * instance. Streams ask for `current()` and report a broken node with
 * `failover()`; the owner rotates through the list in order.
 */
export class RegistryEndpoints {
  readonly #urls: string[];
  readonly #endpoints: (RegistryEndpoint & { readonly sessions: Http2SessionManager })[] = [];
  #index = 0;

  constructor(addresses?: RegistryAddresses) {
    this.#urls = registryUrls(addresses);
  }

  /** The URLs, in failover order. */
  get urls(): readonly string[] {
    return this.#urls;
  }

  /** The node in use now. */
  current(): RegistryEndpoint {
    const i = this.#index;
    let e = this.#endpoints[i];
    if (e === undefined) {
      const url = this.#urls[i]!;
      // Pings find a half-open connection (a node that vanished without a FIN) long before TCP would.
      const sessions = new Http2SessionManager(url, { pingIntervalMs: 10_000, pingTimeoutMs: 5_000, idleConnectionTimeoutMs: 60_000 });
      const client = createClient(RegistryService, createGrpcTransport({ baseUrl: url, sessionManager: sessions }));
      e = { url, client, sessions };
      this.#endpoints[i] = e;
    }
    return e;
  }

  /**
   * Moves on to the next node after `broken` failed. Several streams on the
   * same node fail together; only the first report moves, so they do not skip
   * a healthy node between them.
   */
  failover(broken: RegistryEndpoint): void {
    if (this.#endpoints[this.#index] === broken) this.#index = (this.#index + 1) % this.#urls.length;
  }

  /** Closes every connection. */
  close(): void {
    for (const e of this.#endpoints) e?.sessions.abort();
    this.#endpoints.length = 0;
  }
}
