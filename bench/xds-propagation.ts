/**
 * `npm run bench:xds -- [--rounds 60] [--sizes 100,1000] [--reps 20]`
 *
 * xDS as issue 12 asks to measure it, against one `roster serve` (memory
 * store) run as a child process:
 * - propagation: over `--rounds` rounds a new instance (a fresh echo server)
 *   is registered while an unmodified @grpc/grpc-js-xds client dialing
 *   `xds:///prop` calls in a loop; the time from Register returning to the
 *   first call reaching the new instance, p50/p99. In the same rounds a Watch
 *   stream on the service times the change event it gets (what the SDK's
 *   cache reacts to), as the floor xDS adds its push delay and the client's
 *   update and connect to.
 * - CPU: N raw ADS streams subscribed to one service's load assignment (the
 *   light client of bench/light-watchers.ts, frame headers only, in its own
 *   process), one change per repetition; server CPU per pushed update per
 *   client, beside N Watch streams on one service fed the same changes on
 *   the same server (Watch fan-out at the same count).
 * `--profile` writes the server's V8 CPU profile to bench/results/profiles/
 * (read it with bench/profile-top.ts). Run it twice and quote min–max.
 */
import { mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { DiscoveryRequestSchema } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { InstanceStatus, RegistryService, WatchEventType, WatchRequestSchema } from "../gen/roster/v1/registry_pb.js";
import { TypeUrl } from "../src/server/xds/resources.js";
import { xdsBootstrap } from "../src/server/xds/bootstrap.js";
import { Echo, startEcho, type EchoClient } from "../test/helpers/echo-server.js";
import { startLoad } from "../test/helpers/xds-load.js";
import { rosterProbe } from "./clients.ts";
import { framed, lightClient } from "./light-client.ts";
import { epochMs, percentile, sleep, window } from "./measure.ts";
import { snapshotRoster, startRoster, type RunningServer } from "./servers.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "60" },
    sizes: { type: "string", default: "100,1000" },
    reps: { type: "string", default: "20" },
    profile: { type: "boolean", default: false },
  },
});
const sessions = 8;

grpcXds.register();

type Registry = ReturnType<typeof createClient<typeof RegistryService>>;

/** A host for repetition `r` that appears in no other repetition's message, fixed width so one can never be a prefix of another. */
const markerHost = (r: number) => `127.1.${100 + Math.floor(r / 100)}.${100 + (r % 100)}`;

/** Register → first call through grpc-js-xds, and Register → Watch event, over `rounds` new instances. */
async function propagation(server: RunningServer, registry: Registry, rounds: number): Promise<Record<string, number>> {
  const service = "prop";
  const base = await startEcho("base");
  await registry.register({ service, id: "base", host: "127.0.0.1", port: base.port, status: InstanceStatus.HEALTHY });
  const bootstrap = xdsBootstrap({ servers: [server.address], zone: "", namespace: "default", nodeId: "bench" });
  const client = new Echo(`xds:///${service}`, grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) }) as unknown as EchoClient;
  const load = startLoad(client);
  const watchAbort = new AbortController();
  const added = new Map<string, number>();
  const watching = (async () => {
    for await (const ev of registry.watch({ service }, { signal: watchAbort.signal })) {
      if (ev.type === WatchEventType.ADDED && ev.instance !== undefined) added.set(ev.instance.id, performance.now());
    }
  })().catch(() => {});
  const xds: number[] = [];
  const watch: number[] = [];
  let missed = 0;
  try {
    const end = performance.now() + 15_000;
    while (!load.samples.some((s) => s.instance === "base")) {
      if (performance.now() > end) throw new Error("the xDS client never reached the base instance");
      await sleep(20);
    }
    for (let r = 0; r < rounds; r++) {
      const id = `new-${r}`;
      const e = await startEcho(id);
      await sleep(50);
      await registry.register({ service, id, host: "127.0.0.1", port: e.port, status: InstanceStatus.HEALTHY });
      const t0 = performance.now();
      const deadline = t0 + 5000;
      while (e.hits.length === 0 && performance.now() < deadline) await sleep(1);
      if (e.hits.length === 0) missed++;
      else xds.push(e.hits[0]! - t0);
      const w = added.get(id);
      if (w !== undefined) watch.push(w - t0);
      await registry.deregister({ service, id });
      // Long enough for the client to drop it (the deregistration is pushed within the push delay) before its server goes.
      await sleep(250);
      e.close();
    }
  } finally {
    watchAbort.abort();
    await watching;
    await load.stop();
    client.close();
    base.close();
  }
  return {
    rounds: xds.length,
    missed,
    xdsFirstCallP50Ms: percentile(xds, 50),
    xdsFirstCallP99Ms: percentile(xds, 99),
    watchEventP50Ms: percentile(watch, 50),
    watchEventP99Ms: percentile(watch, 99),
    failedCalls: load.samples.filter((s) => s.error !== undefined).length,
  };
}

/** Server CPU per delivered update per stream, for `n` streams of one kind on one service. */
async function fanOut(kind: "xds" | "watch", server: RunningServer, registry: Registry, n: number, reps: number): Promise<Record<string, number>> {
  const service = `cpu-${kind}-${n}`;
  await registry.register({ service, id: "base", host: "127.0.0.1", port: 9000, status: InstanceStatus.HEALTHY });
  await registry.register({ service, id: "moving", host: markerHost(0), port: 9001, status: InstanceStatus.HEALTHY });
  const open =
    kind === "xds"
      ? {
          path: "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
          body: framed(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: { id: "light", locality: {} }, typeUrl: TypeUrl.endpoints, resourceNames: [`default/${service}`] }))),
          halfClose: false,
        }
      : { path: "/roster.v1.RegistryService/Watch", body: framed(toBinary(WatchRequestSchema, create(WatchRequestSchema, { service }))), halfClose: true };
  const light = lightClient();
  try {
    await light.ask({ open: { url: `http://${server.address}`, path: open.path, bodyHex: open.body.toString("hex"), count: n, sessions, halfClose: open.halfClose } }, (r) => "ready" in r);
    await sleep(1000);
    const alls: number[] = [];
    const g0 = (await light.ask<{ cpuMs: number }>({ cpu: true })).cpuMs;
    const w = window(server.pids);
    for (let rep = 1; rep <= reps; rep++) {
      const marker = markerHost(rep);
      const done = light.ask<{ first: number; all: number }>({ expect: marker }, (r) => "all" in r);
      await sleep(20);
      const t0 = epochMs();
      await registry.register({ service, id: "moving", host: marker, port: 9001, status: InstanceStatus.HEALTHY });
      const r = await done;
      alls.push(r.all - t0);
      // Past the push delay, so each repetition is one push per stream.
      await sleep(100);
    }
    const u = w.end();
    const g = (await light.ask<{ cpuMs: number }>({ cpu: true })).cpuMs - g0;
    const updates = n * reps;
    return {
      serverCpuUsPerUpdatePerClient: (u.serverCpuMs * 1000) / updates,
      allP50Ms: percentile(alls, 50),
      allP99Ms: percentile(alls, 99),
      clientCpuUsPerUpdate: (g * 1000) / updates,
    };
  } finally {
    light.child.kill("SIGKILL");
    await sleep(300);
  }
}

async function main(): Promise<void> {
  const rounds = Number(args.rounds);
  const sizes = args.sizes!.split(",").map(Number);
  const reps = Number(args.reps);
  console.log(`xDS: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load ${loadavg()[0]!.toFixed(2)}, ${snapshotRoster()}`);
  const profileDir = args.profile ? fileURLToPath(new URL("results/profiles/", import.meta.url)) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const server = await startRoster({ store: "memory", flags: ["--xds-startup-hold-ms", "0", "--expiry-protection-threshold", "1"], cpuProfDir: profileDir, probe: rosterProbe });
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: `http://${server.address}` }));
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));
  try {
    const p = rounds > 0 ? await propagation(server, registry, rounds) : undefined;
    console.log(JSON.stringify({ propagation: p }));
    const rows = ["| streams | kind | server CPU µs per update per client | all have it p50 / p99 ms | client CPU µs per update |", "|---|---|---|---|---|"];
    for (const n of sizes) {
      for (const kind of ["xds", "watch"] as const) {
        const m = await fanOut(kind, server, registry, n, reps);
        console.log(JSON.stringify({ kind, n, ...m }));
        rows.push(`| ${n} | ${kind === "xds" ? "ADS (EDS push)" : "Watch"} | ${f(m.serverCpuUsPerUpdatePerClient, 2)} | ${f(m.allP50Ms)} / ${f(m.allP99Ms)} | ${f(m.clientCpuUsPerUpdate, 2)} |`);
      }
    }
    console.log(`load at end ${loadavg()[0]!.toFixed(2)}`);
    if (p !== undefined)
      console.log(
        `Register returned → first call on the new instance through grpc-js-xds: p50 ${f(p.xdsFirstCallP50Ms)} ms, p99 ${f(p.xdsFirstCallP99Ms)} ms over ${p.rounds} rounds` +
          ` (${p.missed} missed, ${p.failedCalls} failed calls); Watch event: p50 ${f(p.watchEventP50Ms)} ms, p99 ${f(p.watchEventP99Ms)} ms`,
      );
    console.log(rows.join("\n"));
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
