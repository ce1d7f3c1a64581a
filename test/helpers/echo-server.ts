import { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** A grpc-js client of examples/echo.proto. */
export interface EchoClient extends grpc.Client {
  say(req: { message: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { message: string; instance: string }) => void): void;
}

const echoPackage = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL("../../examples/echo.proto", import.meta.url)))) as unknown as {
  roster: { examples: { echo: { Echo: grpc.ServiceClientConstructor } } };
};

/** The Echo service constructor, for clients. */
export const Echo = echoPackage.roster.examples.echo.Echo;

/** A grpc-js echo server on 127.0.0.1 that records when each call reached it. */
export interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** performance.now() of each call served. */
  readonly hits: number[];
  close(): void;
}

/** Starts an echo server on a free loopback port. */
export async function startEcho(name: string): Promise<EchoServer> {
  const hits: number[] = [];
  const server = new grpc.Server();
  server.addService(Echo.service, {
    say: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      hits.push(performance.now());
      cb(null, { message: call.request.message, instance: name });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { name, port, hits, close: () => server.forceShutdown() };
}

/** One Say call; resolves with the instance that answered or the error. */
export function say(client: EchoClient, deadlineMs = 2000): Promise<{ instance?: string; error?: grpc.ServiceError }> {
  return new Promise((resolve) => client.say({ message: "hi" }, { deadline: Date.now() + deadlineMs }, (error, res) => resolve(error ? { error } : { instance: res!.instance })));
}

/**
 * Destroys this process's sockets to or from `port`. grpc-js-xds 1.14 never
 * closes the ADS channel of an XdsClient built from a per-channel bootstrap
 * (it only counts references), and after the registry node shuts down that
 * idle connection's two in-process ends outlive it and keep mocha from
 * exiting. Test clean-up only.
 */
export function dropSocketsOf(port: number): void {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  for (const h of handles) {
    if (h instanceof Socket && (h.localPort === port || h.remotePort === port)) h.destroy();
  }
}
