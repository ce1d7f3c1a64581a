import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import type { ClientSecurity } from "./client-security.js";
import { RegistryEndpoints, type RegistryAddresses } from "./registry-endpoints.js";

/**
 * One-shot calls to a registry given as an address list, for tools such as
 * the `roster` command: each call goes to the first node that answers. A
 * node that is down (UNAVAILABLE) passes the call on to the next one in the
 * list; any other answer, a refusal included, is the answer.
 *
 * @example
 * const registry = new RegistryClient("10.0.0.5:7420,10.0.0.6:7420");
 * try {
 *   const { services } = await registry.call((c) => c.listServices({}));
 * } finally {
 *   registry.close();
 * }
 */
export class RegistryClient {
  readonly #endpoints: RegistryEndpoints;

  /** `addresses` as the SDK takes them; left out, ROSTER_REGISTRY, then 127.0.0.1:7420. `security` left out: from the environment (see `securityFromEnv`). */
  constructor(addresses?: RegistryAddresses, security?: ClientSecurity) {
    this.#endpoints = new RegistryEndpoints(addresses, security !== undefined ? { security } : {});
  }

  /** The node URLs, in the order they are tried. */
  get urls(): readonly string[] {
    return this.#endpoints.urls;
  }

  /**
   * Runs `fn` against one node after another until one does not fail with
   * UNAVAILABLE, each node at most once. `retryable` says whether a failure
   * may still be retried elsewhere: a stream that has already delivered
   * messages would deliver them twice, so its caller answers false by then.
   */
  async call<T>(fn: (client: Client<typeof RegistryService>) => Promise<T>, retryable: (error: ConnectError) => boolean = () => true): Promise<T> {
    let failure: ConnectError | undefined;
    for (let i = 0; i < this.#endpoints.urls.length; i++) {
      const ep = this.#endpoints.current();
      try {
        return await fn(ep.client);
      } catch (e) {
        failure = ConnectError.from(e);
        if (failure.code !== Code.Unavailable || !retryable(failure)) throw failure;
        this.#endpoints.failover(ep);
      }
    }
    throw failure ?? new ConnectError("no registry address given", Code.InvalidArgument);
  }

  /** Closes the connections. */
  close(): void {
    this.#endpoints.close();
  }
}
