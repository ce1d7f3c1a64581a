import { createClient, type Client } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import type { ConfigOverrides } from "../../src/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** Every front end a client can reach a registry node through. */
export const frontEnds = ["grpc", "grpc-via-connect", "connect-binary", "connect-json", "grpc-web"] as const;
export type FrontEnd = (typeof frontEnds)[number];

/** What each front end is, for test titles. */
export const frontEndTitles: Record<FrontEnd, string> = {
  grpc: "plain gRPC (the fast path)",
  "grpc-via-connect": "gzip-compressed gRPC (served by Connect)",
  "connect-binary": "the Connect protocol, binary",
  "connect-json": "the Connect protocol, JSON",
  "grpc-web": "gRPC-Web",
};

/** A generated client for a registry URL, speaking through one front end. */
export function clientThrough(frontEnd: FrontEnd, baseUrl: string): Client<typeof RegistryService> {
  switch (frontEnd) {
    case "grpc":
      return createClient(RegistryService, createGrpcTransport({ baseUrl }));
    case "grpc-via-connect":
      // grpc-encoding: gzip on every request takes it past the fast path; compressMinBytes 0 compresses every message.
      return createClient(RegistryService, createGrpcTransport({ baseUrl, sendCompression: compressionGzip, compressMinBytes: 0 }));
    case "connect-binary":
      return createClient(RegistryService, createConnectTransport({ baseUrl, httpVersion: "2" }));
    case "connect-json":
      return createClient(RegistryService, createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }));
    case "grpc-web":
      return createClient(RegistryService, createGrpcWebTransport({ baseUrl, httpVersion: "2" }));
  }
}

/** One place the SEMANTICS suite runs: a front end and a store. */
export interface Target {
  readonly frontEnd: FrontEnd;
  readonly store: "memory" | "redis";
  /**
   * True on the one front end per store that runs the slow lease-expiry
   * tests: they wait for leases to run out, which no front end takes part in.
   */
  readonly runsSlowTests: boolean;
  /** Starts a node on this target's store, with a client through this target's front end. */
  start(overrides?: ConfigOverrides): Promise<TestServer>;
  /** Another client (on its own connection) through this target's front end. */
  client(url: string): Client<typeof RegistryService>;
}

let prefixes = 0;

/** A target; `redisUrl` is read when a server starts (the Redis server starts in a `before`). */
export function target(frontEnd: FrontEnd, store: "memory" | "redis", redisUrl: () => string): Target {
  return {
    frontEnd,
    store,
    runsSlowTests: frontEnd === "grpc",
    async start(overrides = {}) {
      // Each node gets its own key prefix: a fresh registry, as on the memory store.
      const storeConfig = store === "redis" ? { store: redisUrl(), redisPrefix: `sem${process.pid}-${++prefixes}` } : {};
      const t = await startTestServer({ ...storeConfig, ...overrides });
      return { ...t, client: clientThrough(frontEnd, t.url) };
    },
    client: (url) => clientThrough(frontEnd, url),
  };
}
