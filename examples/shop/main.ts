/**
 * The shop scenario: three services (user, order, payment), two instances
 * each, register with a version and a weight; a watcher prints every change
 * as it arrives; the script lists the services, resolves each one (the list,
 * round-robin picks, weighted picks and their spread, a least-loaded pick),
 * then deregisters everything. Against a real Roster server on a free port,
 * started in-process. Run it with `npm run example`.
 */
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService, RemovalReason, Strategy, WatchEventType, type WatchResponse } from "../../gen/roster/v1/registry_pb.js";
import { address, instanceTable, serviceTable } from "../../src/cli/format.js";
import { resolveConfig } from "../../src/config.js";
import { startServer } from "../../src/server/server.js";

const namespace = "shop";

const fleet = [
  { service: "user", id: "user-1", host: "10.0.1.1", port: 8080, version: "1.4.0", weight: 3 },
  { service: "user", id: "user-2", host: "10.0.1.2", port: 8080, version: "1.5.0-canary", weight: 1 },
  { service: "order", id: "order-1", host: "10.0.2.1", port: 8081, version: "2.0.3", weight: 1 },
  { service: "order", id: "order-2", host: "10.0.2.2", port: 8081, version: "2.0.3", weight: 1 },
  { service: "payment", id: "payment-1", host: "10.0.3.1", port: 8082, version: "0.9.1", weight: 4 },
  { service: "payment", id: "payment-2", host: "10.0.3.2", port: 8082, version: "0.9.1", weight: 1 },
];

const say = (text = "") => process.stdout.write(`${text}\n`);
const heading = (text: string) => say(`\n== ${text}`);

const server = await startServer(resolveConfig({ port: 0, logLevel: "warn" }));
const sessions = new Http2SessionManager(server.url);
const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
say(`Roster ${server.url} (in-memory store), namespace "${namespace}"`);

// The watcher: every change to the namespace, printed as it arrives.
const stopWatching = new AbortController();
let seen = 0n;
let live = false;
const watching = (async () => {
  try {
    for await (const e of registry.watch({ namespace }, { signal: stopWatching.signal })) {
      if (e.type !== WatchEventType.PROGRESS) say(`   [watch] ${describe(e)}`);
      seen = e.revision;
      if (e.type === WatchEventType.SNAPSHOT_COMPLETE) live = true;
    }
  } catch (e) {
    if (!stopWatching.signal.aborted) throw e;
  }
})();

/** Waits until the watcher has printed the change at `revision`, so its lines land next to the step that caused them. */
async function watched(revision: bigint): Promise<void> {
  while (seen < revision) await new Promise((r) => setTimeout(r, 5));
}

function totalWeight(service: string): number {
  return fleet.filter((f) => f.service === service).reduce((sum, f) => sum + f.weight, 0);
}

/** A client stream of the given messages (client-streaming calls take an AsyncIterable). */
async function* stream<T>(...messages: T[]): AsyncGenerator<T> {
  yield* messages;
}

function describe(e: WatchResponse): string {
  const i = e.instance;
  switch (e.type) {
    case WatchEventType.ADDED:
      return `rev ${e.revision}: ${i?.service}/${i?.id} added at ${i ? address(i) : "?"} (version ${i?.metadata.version}, weight ${i?.weight})`;
    case WatchEventType.UPDATED:
      return `rev ${e.revision}: ${i?.service}/${i?.id} updated`;
    case WatchEventType.REMOVED:
      return `rev ${e.revision}: ${i?.service}/${i?.id} removed (${RemovalReason[e.reason]?.toLowerCase()})`;
    case WatchEventType.SNAPSHOT_COMPLETE:
      return `rev ${e.revision}: snapshot complete, watching live`;
    default:
      return `rev ${e.revision}: ${WatchEventType[e.type]}`;
  }
}

try {
  while (!live) await new Promise((r) => setTimeout(r, 5));
  heading("Registering 6 instances (TTL 30s, version and weight)");
  for (const f of fleet) {
    const res = await registry.register({
      namespace,
      service: f.service,
      id: f.id,
      host: f.host,
      port: f.port,
      weight: f.weight,
      metadata: { version: f.version },
      ttl: { seconds: 30n },
    });
    say(`register ${f.service}/${f.id} -> revision ${res.revision}`);
    await watched(res.revision);
  }

  heading("Services");
  process.stdout.write(serviceTable((await registry.listServices({ namespace })).services));

  // Heartbeats renew leases and report load (in-flight requests) for least-loaded picking.
  heading("Heartbeats: payment-1 reports 12 requests in flight, payment-2 reports 3");
  for (const [id, load] of [["payment-1", 12], ["payment-2", 3]] as const) {
    const res = await registry.heartbeat(stream({ namespace, service: "payment", id, load }));
    say(`heartbeat payment/${id} load=${load} -> ${res.beats} beat`);
  }

  for (const service of ["user", "order", "payment"]) {
    heading(`Resolving ${service}`);
    process.stdout.write(instanceTable((await registry.resolve({ namespace, service })).instances));

    const rr: string[] = [];
    for (let n = 0; n < 6; n++) rr.push((await registry.resolve({ namespace, service, strategy: Strategy.ROUND_ROBIN })).instances[0]?.id ?? "-");
    say(`round robin, 6 picks: ${rr.join(" ")}`);

    const picks = 200;
    const counts = new Map<string, number>();
    for (let n = 0; n < picks; n++) {
      const id = (await registry.resolve({ namespace, service, strategy: Strategy.WEIGHTED })).instances[0]?.id ?? "-";
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const spread = fleet
      .filter((f) => f.service === service)
      .map((f) => `${f.id} ${counts.get(f.id) ?? 0} (weight ${f.weight}, expected ${Math.round((picks * f.weight) / totalWeight(service))})`);
    say(`weighted, ${picks} picks: ${spread.join(", ")}`);

    const least = (await registry.resolve({ namespace, service, strategy: Strategy.LEAST_LOADED })).instances[0];
    say(`least loaded: ${least?.id} (load ${least?.load})`);
  }

  heading("Deregistering everything");
  for (const f of fleet) {
    const res = await registry.deregister({ namespace, service: f.service, id: f.id });
    say(`deregister ${f.service}/${f.id} -> revision ${res.revision}`);
    await watched(res.revision);
  }
  const left = (await registry.listServices({ namespace })).services;
  say(left.length === 0 ? "\nno services left" : `\nstill registered: ${left.map((s) => s.name).join(", ")}`);
} finally {
  stopWatching.abort();
  await watching;
  sessions.abort();
  await server.close();
  say("registry stopped");
}
