import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** How an HTTP target answers: 200, 503, or never (the connection stays open with no answer). */
export type HttpMode = "ok" | "fail" | "hang";

/** An HTTP (or HTTPS) server the test turns good and bad, counting the probes that reach it. */
export interface HttpTarget {
  readonly port: number;
  mode: HttpMode;
  /** Modes for the next requests, one each, before `mode` applies again. */
  readonly plan: HttpMode[];
  /** Requests received, with the headers of the last one. */
  readonly hits: number;
  readonly lastHeaders: http.IncomingHttpHeaders | undefined;
  /** performance.now() of each request. */
  readonly times: number[];
  /** Requests received per path. */
  readonly paths: Map<string, number>;
  close(): Promise<void>;
}

/** Starts an HTTP target on a free loopback port; with `tls`, HTTPS with that certificate. */
export async function startHttpTarget(options: { mode?: HttpMode; tls?: { cert: Buffer; key: Buffer }; body?: string } = {}): Promise<HttpTarget> {
  let hits = 0;
  let lastHeaders: http.IncomingHttpHeaders | undefined;
  const times: number[] = [];
  const paths = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    hits++;
    times.push(performance.now());
    lastHeaders = req.headers;
    paths.set(req.url ?? "", (paths.get(req.url ?? "") ?? 0) + 1);
    const mode = target.plan.shift() ?? target.mode;
    if (mode === "hang") return;
    const ok = mode === "ok";
    res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
    res.end(options.body ?? (ok ? "all good" : "database unreachable"));
  };
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const target: HttpTarget = {
    port: (server.address() as AddressInfo).port,
    mode: options.mode ?? "ok",
    plan: [],
    get hits() {
      return hits;
    },
    get lastHeaders() {
      return lastHeaders;
    },
    times,
    paths,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  return target;
}

/** A TCP listener the test opens and closes on one port. */
export interface TcpTarget {
  readonly port: number;
  /** Connections accepted. */
  readonly accepted: number;
  /** Stops listening: connections are refused. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a TCP listener on a free loopback port. */
export async function startTcpTarget(): Promise<TcpTarget> {
  let accepted = 0;
  let server: net.Server | undefined;
  let port = 0;
  const open = async () => {
    const s = net.createServer((c) => {
      accepted++;
      c.destroy();
    });
    await new Promise<void>((r) => s.listen(port, "127.0.0.1", r));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = () => new Promise<void>((r) => (server === undefined ? r() : server.close(() => r()), (server = undefined)));
  await open();
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    stop,
    start: open,
    close: stop,
  };
}

const healthProto = grpc.loadPackageDefinition(
  protoLoader.loadSync(fileURLToPath(new URL("../../proto/grpc/health/v1/health.proto", import.meta.url)), { enums: String, defaults: true }),
) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };

/** A grpc.health.v1 status name as proto-loader spells it. */
export type ServingName = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN" | "UNKNOWN";

/** A grpc-js server implementing grpc.health.v1 (Check and Watch) whose statuses the test sets. */
export interface GrpcHealthTarget {
  readonly port: number;
  /** Sets a service's status; open Watch streams hear it at once. */
  set(service: string, status: ServingName): void;
  /** Watch streams opened, and Check calls served, so far. */
  readonly watches: number;
  readonly checks: number;
  /** Watch streams open now. */
  readonly openWatches: number;
  close(): void;
}

/** Starts a grpc.health.v1 server on a loopback port (a free one unless `port` is given); `watch: false` leaves Watch UNIMPLEMENTED. */
export async function startGrpcHealthTarget(options: { watch?: boolean; port?: number } = {}): Promise<GrpcHealthTarget> {
  const statuses = new Map<string, ServingName>([["", "SERVING"]]);
  const streams = new Set<{ service: string; call: grpc.ServerWritableStream<{ service: string }, unknown> }>();
  let watches = 0;
  let checks = 0;
  const server = new grpc.Server();
  const impl: grpc.UntypedServiceImplementation = {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      checks++;
      const status = statuses.get(call.request.service);
      if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: "unknown service" });
      else cb(null, { status });
    },
  };
  if (options.watch !== false) {
    impl.Watch = (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      watches++;
      const entry = { service: call.request.service, call };
      streams.add(entry);
      call.on("cancelled", () => streams.delete(entry));
      call.on("close", () => streams.delete(entry));
      call.write({ status: statuses.get(call.request.service) ?? "SERVICE_UNKNOWN" });
    };
  }
  server.addService(healthProto.grpc.health.v1.Health.service, impl);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    set(service, status) {
      statuses.set(service, status);
      for (const s of streams) if (s.service === service) s.call.write({ status });
    },
    get watches() {
      return watches;
    },
    get checks() {
      return checks;
    },
    get openWatches() {
      return streams.size;
    },
    close: () => server.forceShutdown(),
  };
}
