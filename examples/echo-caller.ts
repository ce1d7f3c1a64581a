/**
 * Calls the echo service through `roster:///echo` once every 200 ms and
 * prints which instance answered. Start and stop echo-service instances
 * while it runs: the caller follows them with no restart.
 *
 *   ROSTER_REGISTRY=127.0.0.1:7420 tsx examples/echo-caller.ts
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { registerRosterResolver } from "../src/sdk/index.js";

interface EchoClient extends grpc.Client {
  say(req: { message: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { instance: string }) => void): void;
}

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL("./echo.proto", import.meta.url)))) as unknown as {
  roster: { examples: { echo: { Echo: grpc.ServiceClientConstructor } } };
};

// The registry comes from ROSTER_REGISTRY (or 127.0.0.1:7420); the resolver hands grpc-js round_robin unless the channel sets a service config.
registerRosterResolver();
const client = new pkg.roster.examples.echo.Echo("roster:///echo", grpc.credentials.createInsecure()) as unknown as EchoClient;

let n = 0;
const timer = setInterval(() => {
  const i = ++n;
  client.say({ message: `hello ${i}` }, { deadline: Date.now() + 2000 }, (err, res) => {
    console.log(err ? `#${i} failed: ${grpc.status[err.code]} ${err.details}` : `#${i} answered by ${res!.instance}`);
  });
}, 200);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    clearInterval(timer);
    client.close();
  });
}
