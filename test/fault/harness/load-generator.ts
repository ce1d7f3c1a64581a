/**
 * The fault suite's load: one child process that keeps `count` instances
 * alive with the SDK's Registrar. Settings come as JSON in argv[2]:
 * { registry: string[], service, count, ttlMs, first? } (ids i<first>..i<first+count-1>,
 * so several generators can share one service and be killed apart). Prints "ready" once every
 * instance is registered, then a JSON line per SDK event; runs until killed,
 * without deregistering (the scenario is over by then). Registrations are
 * spread over one beat interval.
 */
import { Registrar } from "../../../src/sdk/index.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as { registry: string[]; service: string; count: number; ttlMs: number; first?: number };
const registrar = new Registrar({ registry: opts.registry });
let lost = 0;
let reconnects = 0;
registrar.on("lost", () => lost++);
registrar.on("reconnecting", () => reconnects++);
registrar.on("error", () => {});
// Registrations are spread over one beat interval (a third of the TTL, the SDK's default), as a real fleet's
// beats are: a fleet whose beats all land in one sweep would trip expiry protection all at once and hide the fault.
const spreadMs = opts.ttlMs / 3;
await Promise.all(
  Array.from({ length: opts.count }, async (_, i) => {
    await new Promise((r) => setTimeout(r, (i * spreadMs) / opts.count));
    return registrar.register({ service: opts.service, id: `i${(opts.first ?? 0) + i}`, host: "10.0.0.1", port: 1000 + i, ttlMs: opts.ttlMs });
  }),
);
process.stdout.write("ready\n");
setInterval(() => process.stdout.write(`${JSON.stringify({ lost, reconnects })}\n`), 1000);
