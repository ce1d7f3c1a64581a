/**
 * The fault suite's load: one child process that keeps `count` instances
 * alive with the SDK's Registrar. Settings come as JSON in argv[2]:
 * { registry: string[], service, count, ttlMs }. Prints "ready" once every
 * instance is registered, then a JSON line per SDK event; runs until killed,
 * without deregistering (the scenario is over by then).
 */
import { Registrar } from "../../../src/sdk/index.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as { registry: string[]; service: string; count: number; ttlMs: number };
const registrar = new Registrar({ registry: opts.registry });
let lost = 0;
let reconnects = 0;
registrar.on("lost", () => lost++);
registrar.on("reconnecting", () => reconnects++);
registrar.on("error", () => {});
await Promise.all(
  Array.from({ length: opts.count }, (_, i) => registrar.register({ service: opts.service, id: `i${i}`, host: "10.0.0.1", port: 1000 + i, ttlMs: opts.ttlMs })),
);
process.stdout.write("ready\n");
setInterval(() => process.stdout.write(`${JSON.stringify({ lost, reconnects })}\n`), 1000);
