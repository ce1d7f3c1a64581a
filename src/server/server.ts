import * as http from "node:http";
import * as http2 from "node:http2";
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { ServerConfig } from "../config.js";
import { createStore } from "../store/create-store.js";
import type { Store } from "../store/store.js";
import { NodeHealth, registerHealthService } from "./health-service.js";
import { createLogger, logLifecycle, type Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { callContextValues } from "./call-context.js";
import { connectHandler, pathOf } from "./connect-adapter.js";
import { answerUnimplemented } from "./unimplemented.js";
import { registerReflectionService } from "./reflection/reflection-service.js";
import { serveRest } from "./rest/rest-routes.js";
import { GrpcFastPath } from "./grpc/fast-path.js";
import { RequestByteBudget } from "./grpc/request-byte-budget.js";
import { registerRegistryService, registryHandlers } from "./registry-service.js";
import { keepSessionAlive } from "./session-keepalive.js";
import { StreamLimiter } from "./stream-limiter.js";
import { WatchHub } from "./watch-hub.js";
import { registerAdsService, type AdsService } from "./xds/ads-service.js";
import { version } from "../version.js";
import { formatHostPort } from "../core/host-port.js";
import { nodeSecurity } from "./auth/node-security.js";
import { startHealthChecker, type HealthChecker } from "./checks/health-checker.js";

/** A running registry node. */
export interface RosterServer {
  /** The HTTP/2 port (gRPC, gRPC-Web, Connect). */
  readonly port: number;
  /** The HTTP/1.1 port, when enabled. */
  readonly http1Port: number | undefined;
  /** `http://host:port` of the HTTP/2 listener. */
  readonly url: string;
  readonly store: Store;
  readonly log: Logger;
  /**
   * Shuts down: stops accepting, ends open streams with UNAVAILABLE so
   * clients reconnect elsewhere, waits up to shutdown-grace-ms for
   * connections to drain, then destroys the rest and closes the store.
   */
  close(): Promise<void>;
}

/** Options for embedding a server. */
export interface StartOptions {
  /** A logger to use instead of a new one at `config.logLevel`. */
  readonly log?: Logger;
}

/**
 * Starts a registry node: the store, the watch hub, RegistryService and
 * grpc.health.v1 on one HTTP/2 port (plus an optional HTTP/1.1 port), with
 * /metrics and /healthz beside them.
 *
 * @example
 * const server = await startServer(resolveConfig({ port: 0 }));
 * console.log(server.url);
 * await server.close();
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RosterServer> {
  const log = options.log ?? createLogger(config.logLevel);
  // Before the store, so a bad certificate or policy file stops the start with nothing left open.
  const security = nodeSecurity(config, log);
  let hub: WatchHub | undefined;
  let xds: AdsService | undefined;
  let health: NodeHealth | undefined;
  let checker: HealthChecker | undefined;
  const store = await createStore(config, {
    onResync: (detail) => {
      log.warn({ event: "store_resync" }, detail);
      hub?.resync(detail);
      xds?.resync();
      checker?.resync();
    },
    onMembership: (detail) => log.warn({ event: "check_membership" }, detail),
    onProtection: (active, detail) => (active ? log.warn({ event: "expiry_protection", active }, detail) : log.info({ event: "expiry_protection", active }, detail)),
    onStale: (stale, detail) => {
      if (stale) log.warn({ event: "store_stale", stale }, detail);
      else log.info({ event: "store_stale", stale }, detail);
      health?.changed();
    },
  });
  const metrics = new Metrics();
  hub = new WatchHub(store, config.limits, config.timing, metrics);
  const stopMetrics = metrics.attach(store, hub);
  const stopLog = logLifecycle(store, log);
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one: many listeners are normal here, not a leak.
  setMaxListeners(0, shutdown.signal);
  const startedAt = Date.now();
  let serving = true;
  checker = startHealthChecker({ store, config, log, registry: metrics.registry, signal: shutdown.signal });

  const handlers = security.guard(registryHandlers({
    store,
    hub,
    limits: config.limits,
    timing: config.timing,
    streams: new StreamLimiter(config.limits.maxStreamsPerConnection),
    checkPolicy: { anyPort: config.checkAnyPort === "true" },
    version,
    startedAt,
    onBeat: () => metrics.beat(),
    xdsStatus: () => xds?.status(),
    checkerStatus: () => checker?.status(),
  }));
  const nodeHealth = (health = new NodeHealth({ stale: () => store.status().stale, services: () => connect.services }));
  const connect = connectHandler({
    // Every service Roster serves is mounted here.
    routes(router) {
      registerRegistryService(router, handlers);
      registerHealthService(router, nodeHealth);
      registerReflectionService(router, () => connect.descriptors);
      xds = registerAdsService(router, { store, timing: config.timing, log, registry: metrics.registry, signal: shutdown.signal, gate: security.readGate });
    },
    shutdownSignal: shutdown.signal,
    readMaxBytes: config.limits.maxMessageBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    // The proto3 JSON rules: unknown fields are refused (Connect ignores them by default), and every field is emitted, zero or not.
    jsonOptions: { ignoreUnknownFields: false, alwaysEmitImplicit: true },
    contextValues: callContextValues,
  });
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const path = pathOf(req);
    if (connect.serves(path)) connect(req, res);
    else if (!answerUnimplemented(req, res, path, connect.services) && !serveRest(req, res, path, handlers)) void plainRoutes(req, res, metrics, () => ({ serving, ...statusJson(store, hub) }));
  };

  const sessions = new Set<http2.ServerHttp2Session>();
  const fast = new GrpcFastPath(handlers, config.limits.maxMessageBytes, new RequestByteBudget(config.limits.maxBufferedRequestBytesPerConnection), config.limits.maxStreamBufferBytes);
  const h2 = security.listeners.main({ maxConcurrentStreams: config.limits.maxStreamsPerConnection + 100 }, (req, res) => security.scoped(req, () => {
    if (fast.handle(req, res)) return;
    handler(req, res);
  }));
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
    keepSessionAlive(s, {
      intervalMs: config.timing.keepaliveIntervalMs,
      timeoutMs: config.timing.keepaliveTimeoutMs,
      onDead: () => log.info({ event: "connection_dead" }, "dropped a client connection that stopped answering pings"),
    });
  });
  const port = await listen(h2, config.port, config.host);

  const sockets = new Set<import("node:net").Socket>();
  let h1: http.Server | undefined;
  let http1Port: number | undefined;
  if (config.http1Port !== 0) {
    h1 = security.listeners.http1((req, res) => security.scoped(req, () => handler(req, res)));
    h1.on("connection", (s) => {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
    });
    http1Port = await listen(h1, config.http1Port === -1 ? 0 : config.http1Port, config.host);
  }
  const url = `${security.listeners.scheme}://${formatHostPort(config.host, port)}`;
  log.info({ event: "listening", url, http1Port, store: store.kind, version }, "roster listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      serving = false;
      // Health watchers hear NOT_SERVING before their streams end.
      nodeHealth.shutdown();
      log.info({ event: "shutdown" }, "shutting down");
      h2.close();
      h1?.close();
      const reason = new ConnectError("the registry node is shutting down", Code.Unavailable);
      fast.shutdown(reason);
      shutdown.abort(reason);
      hub.close();
      for (const s of sessions) s.close();
      for (const s of sockets) s.end();
      const deadline = Date.now() + config.timing.shutdownGraceMs;
      while ((sessions.size > 0 || sockets.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      stopMetrics();
      stopLog();
      security.close();
      await checker.close();
      await store.close();
      log.info({ event: "stopped" }, "stopped");
    })());

  return { port, http1Port, url, store, log, close };
}

function listen(server: http.Server | http2.Http2Server | http2.Http2SecureServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function statusJson(store: Store, hub: WatchHub) {
  const s = store.status();
  return { store: store.kind, revision: s.revision.toString(), instances: s.instances, leases: s.leases, watchers: hub.watchers, expiryProtection: s.expiryProtection, stale: s.stale };
}

async function plainRoutes(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: { writeHead(status: number, headers: Record<string, string>): unknown; end(body: string): unknown },
  metrics: Metrics,
  status: () => Record<string, unknown> & { serving: boolean },
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "GET" && path === "/metrics") {
    const body = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(body);
  } else if (req.method === "GET" && path === "/healthz") {
    const s = status();
    res.writeHead(s.serving ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify(s));
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found: Roster serves gRPC, gRPC-Web and Connect under /roster.v1.RegistryService/, and GET /v1/services, /metrics, /healthz\n");
  }
}
