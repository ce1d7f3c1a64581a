import { createServer, type AddressInfo } from "node:net";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import { resolveConfig, type ConfigOverrides } from "../../src/config.js";
import { startServer, type RosterServer } from "../../src/server/server.js";

/** A registry node on a free loopback port, with a client for it. */
export interface TestServer {
  readonly server: RosterServer;
  readonly url: string;
  readonly port: number;
  /** A generated Connect client speaking gRPC over HTTP/2. */
  readonly client: Client<typeof RegistryService>;
  close(): Promise<void>;
}

/**
 * Starts a real server on 127.0.0.1, port 0 unless `overrides.port` is set,
 * logging only errors unless ROSTER_TEST_LOG is set.
 */
export async function startTestServer(overrides: ConfigOverrides = {}): Promise<TestServer> {
  const config = resolveConfig({
    host: "127.0.0.1",
    port: 0,
    logLevel: (process.env.ROSTER_TEST_LOG as "info" | undefined) ?? "error",
    ...overrides,
    timing: { shutdownGraceMs: 500, ...overrides.timing },
  });
  const server = await startServer(config);
  const client = clientFor(server.url);
  return { server, url: server.url, port: server.port, client, close: () => server.close() };
}

/** A Connect client over gRPC for a registry URL. */
export function clientFor(url: string): Client<typeof RegistryService> {
  return createClient(RegistryService, createGrpcTransport({ baseUrl: url }));
}

/** Waits until `ok()` holds, polling every 10 ms, or fails after `ms`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A loopback port that was free a moment ago, for processes that need a port before they start. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
