/**
 * An echo service that registers itself with Roster and drains on SIGTERM.
 *
 *   ROSTER_REGISTRY=127.0.0.1:7420 tsx examples/echo-service.ts [port] [name]
 *
 * On SIGTERM or SIGINT it reports STOPPING (callers stop picking it), keeps
 * serving for DRAIN_MS, deregisters, then stops its server.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Registrar, drainOnSignal } from "../src/sdk/index.js";

const port = Number(process.argv[2] ?? 0);
const name = process.argv[3] ?? `echo-${process.pid}`;
const drainMs = Number(process.env.DRAIN_MS ?? 3000);

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL("./echo.proto", import.meta.url)))) as unknown as {
  roster: { examples: { echo: { Echo: grpc.ServiceClientConstructor } } };
};

let inFlight = 0;
const server = new grpc.Server();
server.addService(pkg.roster.examples.echo.Echo.service, {
  say: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, done: grpc.sendUnaryData<unknown>) => {
    inFlight++;
    done(null, { message: call.request.message, instance: name });
    inFlight--;
  },
});
const bound = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);

const registrar = new Registrar();
registrar.on("registered", (r, _i, created) => console.log(`${name}: registered as ${r.key.service}/${r.id} (${created ? "new" : "again"})`));
registrar.on("reconnecting", (_r, info) => console.log(`${name}: registry ${info.registry} failed (${info.error.message}); retry in ${info.delayMs} ms`));
registrar.on("lost", () => console.log(`${name}: the registry lost us; registering again`));
const me = await registrar.register({ service: "echo", id: name, host: "127.0.0.1", port: bound, ttlMs: 6000 });
setInterval(() => me.setLoad(inFlight), 1000).unref();
console.log(`${name}: serving echo on 127.0.0.1:${bound}`);

drainOnSignal(registrar, {
  waitMs: drainMs,
  onDrained: (signal) => {
    console.log(`${name}: ${signal}: drained and deregistered; stopping`);
    server.tryShutdown(() => process.exit(0));
  },
});
