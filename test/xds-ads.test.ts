import assert from "node:assert/strict";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ClusterSchema } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../gen/envoy/config/route/v3/route_pb.js";
import { HttpConnectionManagerSchema } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InstanceStatus } from "../gen/roster/v1/registry_pb.js";
import { TypeUrl } from "../src/server/xds/resources.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { assignments, endpointAddresses, rawAdsClient, type RawAdsClient } from "./helpers/xds-raw-client.js";

const LDS = TypeUrl.listener;
const RDS = TypeUrl.route;
const CDS = TypeUrl.cluster;
const EDS = TypeUrl.endpoints;

describe("xDS: StreamAggregatedResources (state of the world)", function () {
  let t: TestServer;
  const clients: RawAdsClient[] = [];
  const open = (node?: Parameters<typeof rawAdsClient>[1]) => {
    const c = rawAdsClient(t.url, node);
    clients.push(c);
    return c;
  };
  const register = (service: string, id: string, opts: { host?: string; port?: number; zone?: string; status?: InstanceStatus; weight?: number; namespace?: string } = {}) =>
    t.client.register({ namespace: opts.namespace ?? "", service, id, host: opts.host ?? "127.0.0.1", port: opts.port ?? 9000, status: opts.status ?? InstanceStatus.HEALTHY, zone: opts.zone ?? "", weight: opts.weight ?? 1 });
  const deregister = (service: string, id: string) => t.client.deregister({ service, id });

  before(async () => {
    t = await startTestServer({ timing: { xdsPushDelayMs: 20, xdsStartupHoldMs: 0 } });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await t.close();
  });

  it("answers an unknown service's Listener with a response that lacks it (does not exist), at once", async () => {
    const c = open();
    c.send({ typeUrl: LDS, resourceNames: ["nosuch"] });
    const r = await c.next();
    assert.equal(r.typeUrl, LDS);
    assert.equal(r.resources.length, 0);
    assert.notEqual(r.nonce, "");
    assert.equal(r.versionInfo, "1");
  });

  it("serves Listener → RouteConfiguration → EDS Cluster → ClusterLoadAssignment for a registered service", async () => {
    await register("walk", "a", { port: 9001 });
    await register("walk", "b", { port: 9002, status: InstanceStatus.STARTING });
    const c = open();
    c.send({ typeUrl: LDS, resourceNames: ["walk"] });
    const l = await c.next();
    const listener = anyUnpack(l.resources[0]!, ListenerSchema)!;
    assert.equal(listener.name, "walk");
    const hcm = anyUnpack(listener.apiListener!.apiListener!, HttpConnectionManagerSchema)!;
    assert.equal(hcm.routeSpecifier.case, "rds");
    const routeName = hcm.routeSpecifier.case === "rds" ? hcm.routeSpecifier.value.routeConfigName : "";
    assert.equal(routeName, "default/walk");
    assert.equal(hcm.httpFilters[0]?.name, "envoy.filters.http.router");
    c.send({ typeUrl: LDS, resourceNames: ["walk"], versionInfo: l.versionInfo, responseNonce: l.nonce });
    c.send({ typeUrl: RDS, resourceNames: [routeName] });
    const rc = anyUnpack((await c.next()).resources[0]!, RouteConfigurationSchema)!;
    const action = rc.virtualHosts[0]?.routes[0]?.action;
    assert.equal(action?.case === "route" && action.value.clusterSpecifier.case === "cluster" ? action.value.clusterSpecifier.value : "", "default/walk");
    c.send({ typeUrl: CDS, resourceNames: ["default/walk"] });
    const cl = anyUnpack((await c.next()).resources[0]!, ClusterSchema)!;
    assert.equal(cl.edsClusterConfig?.serviceName, "default/walk");
    c.send({ typeUrl: EDS, resourceNames: ["default/walk"] });
    const [cla] = assignments(await c.next());
    assert.deepEqual(endpointAddresses(cla!), ["127.0.0.1:9001"], "only HEALTHY instances are endpoints");
  });

  it("ACK: a change after an ACK is pushed with a higher version and a new nonce; NACK keeps the last good config and is not answered", async () => {
    await register("acks", "a", { port: 9101 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/acks"] });
    const r1 = await c.next();
    c.send({ typeUrl: EDS, resourceNames: ["default/acks"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    assert.ok(await c.quiet(150), "an ACK is not answered");
    await register("acks", "b", { port: 9102 });
    const r2 = await c.next();
    assert.ok(Number(r2.versionInfo) > Number(r1.versionInfo));
    assert.ok(Number(r2.nonce) > Number(r1.nonce));
    assert.deepEqual(endpointAddresses(assignments(r2)[0]!), ["127.0.0.1:9101", "127.0.0.1:9102"]);
    c.send({ typeUrl: EDS, resourceNames: ["default/acks"], versionInfo: r1.versionInfo, responseNonce: r2.nonce, errorDetail: { code: 3, message: "test rejects it" } });
    assert.ok(await c.quiet(150), "a NACK is not answered with the same config again");
    await register("acks", "c", { port: 9103 });
    const r3 = await c.next();
    assert.ok(Number(r3.versionInfo) > Number(r2.versionInfo));
    assert.equal(endpointAddresses(assignments(r3)[0]!).length, 3);
  });

  it("ignores a request whose nonce is stale (a newer response is in flight)", async () => {
    await register("stale", "a", { port: 9201 });
    await register("stale2", "a", { port: 9202 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/stale"] });
    const r1 = await c.next();
    c.send({ typeUrl: EDS, resourceNames: ["default/stale"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await register("stale", "b", { port: 9203 });
    const r2 = await c.next();
    c.send({ typeUrl: EDS, resourceNames: ["default/stale", "default/stale2"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    assert.ok(await c.quiet(150), "stale nonce ignored");
    c.send({ typeUrl: EDS, resourceNames: ["default/stale", "default/stale2"], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
    const r3 = await c.next();
    assert.deepEqual(assignments(r3).map((a) => a.clusterName).sort(), ["default/stale", "default/stale2"]);
  });

  it("Listener and Cluster responses carry the whole subscribed set; unsubscribing drops the name", async () => {
    await register("full1", "a");
    await register("full2", "a");
    const c = open();
    c.send({ typeUrl: CDS, resourceNames: ["default/full1"] });
    const r1 = await c.next();
    assert.equal(r1.resources.length, 1);
    c.send({ typeUrl: CDS, resourceNames: ["default/full1", "default/full2", "default/full-none"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    const r2 = await c.next();
    assert.deepEqual(r2.resources.map((a) => anyUnpack(a, ClusterSchema)!.name).sort(), ["default/full1", "default/full2"], "both known services, the unknown one absent");
    c.send({ typeUrl: CDS, resourceNames: ["default/full2"], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
    const r3 = await c.next();
    assert.deepEqual(r3.resources.map((a) => anyUnpack(a, ClusterSchema)!.name), ["default/full2"]);
    // A change to an unsubscribed service pushes nothing.
    c.send({ typeUrl: CDS, resourceNames: ["default/full2"], versionInfo: r3.versionInfo, responseNonce: r3.nonce });
    await deregister("full1", "a");
    assert.ok(await c.quiet(150));
    // The last instance leaving makes the Cluster disappear from the full set.
    await deregister("full2", "a");
    const r4 = await c.next();
    assert.equal(r4.resources.length, 0);
  });

  it("a resource subscribed again is sent again even when unchanged", async () => {
    await register("again", "a", { port: 9301 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/again"] });
    const r1 = await c.next();
    c.send({ typeUrl: EDS, resourceNames: [], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    assert.ok(await c.quiet(100), "unsubscribing from a load assignment needs no answer");
    c.send({ typeUrl: EDS, resourceNames: ["default/again"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    const r2 = await c.next();
    assert.deepEqual(endpointAddresses(assignments(r2)[0]!), ["127.0.0.1:9301"]);
    assert.ok(Number(r2.versionInfo) > Number(r1.versionInfo));
  });

  it("answers the names that exist at once, without waiting for every name", async () => {
    await register("some", "a", { port: 9401 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/some", "default/not-yet"] });
    const r1 = await c.next();
    assert.deepEqual(assignments(r1).map((a) => a.clusterName), ["default/some"]);
    c.send({ typeUrl: EDS, resourceNames: ["default/some", "default/not-yet"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await register("not-yet", "a", { port: 9402 });
    const r2 = await c.next();
    assert.ok(assignments(r2).some((a) => a.clusterName === "default/not-yet"));
  });

  it("a burst of changes becomes one push per client", async () => {
    await register("burst", "seed", { port: 9500 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/burst"] });
    const r1 = await c.next();
    c.send({ typeUrl: EDS, resourceNames: ["default/burst"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    await Promise.all(Array.from({ length: 20 }, (_, i) => register("burst", `i${i}`, { port: 9501 + i })));
    const r2 = await c.next();
    assert.ok(await c.quiet(200), "one push for the burst");
    assert.equal(endpointAddresses(assignments(r2)[0]!).length, 21);
  });

  it("one locality per zone weighted by instance weights; the client's zone at priority 0 (even when empty), the rest at 1", async () => {
    await register("zoned", "a1", { port: 9601, zone: "a", weight: 3 });
    await register("zoned", "a2", { port: 9602, zone: "a", weight: 2 });
    await register("zoned", "b1", { port: 9603, zone: "b", weight: 1 });
    const inA = open({ zone: "a" });
    inA.send({ typeUrl: EDS, resourceNames: ["default/zoned"] });
    const [claA] = assignments(await inA.next());
    const byZone = new Map(claA!.endpoints.map((l) => [l.locality?.zone, l]));
    assert.equal(byZone.get("a")?.priority, 0);
    assert.equal(byZone.get("b")?.priority, 1);
    assert.equal(byZone.get("a")?.loadBalancingWeight, 5);
    assert.deepEqual(byZone.get("a")?.lbEndpoints.map((e) => e.loadBalancingWeight), [3, 2]);
    const inC = open({ zone: "c" });
    inC.send({ typeUrl: EDS, resourceNames: ["default/zoned"] });
    const [claC] = assignments(await inC.next());
    assert.deepEqual(
      claC!.endpoints.map((l) => [l.locality?.zone, l.priority, l.lbEndpoints.length]),
      [["a", 1, 2], ["b", 1, 1], ["c", 0, 0]],
      "the client's empty zone stays at priority 0 so it fails over at once",
    );
    const noZone = open();
    noZone.send({ typeUrl: EDS, resourceNames: ["default/zoned"] });
    assert.deepEqual(assignments(await noZone.next())[0]!.endpoints.map((l) => l.priority), [0, 0], "a client without a zone: every zone at priority 0");
  });

  it("maps a Listener name to the namespace in the client's node metadata (roster.namespace), or ns/svc", async () => {
    await register("nsd", "a", { namespace: "team", port: 9701 });
    const c = open({ metadata: { "roster.namespace": "team" } });
    c.send({ typeUrl: LDS, resourceNames: ["nsd", "team/nsd", "nsd-default"] });
    const r = await c.next();
    assert.deepEqual(r.resources.map((a) => anyUnpack(a, ListenerSchema)!.name).sort(), ["nsd", "team/nsd"]);
  });

  it("skips instances whose host is not an IP literal (gRPC clients accept only IPs)", async () => {
    await register("hosts", "ip", { host: "127.0.0.1", port: 9801 });
    await register("hosts", "name", { host: "example.internal", port: 9802 });
    await register("hosts", "v6", { host: "::1", port: 9803 });
    const c = open();
    c.send({ typeUrl: EDS, resourceNames: ["default/hosts"] });
    assert.deepEqual(endpointAddresses(assignments(await c.next())[0]!), ["127.0.0.1:9801", "::1:9803"]);
  });

  it("counts connected clients, pushes and NACKs in /metrics", async () => {
    await register("metered", "a");
    const c = open();
    c.send({ typeUrl: CDS, resourceNames: ["default/metered"] });
    const r = await c.next();
    c.send({ typeUrl: CDS, resourceNames: ["default/metered"], versionInfo: "0", responseNonce: r.nonce, errorDetail: { code: 3, message: "no" } });
    await c.quiet(100);
    const text = await scrape(t);
    assert.match(text, /roster_xds_clients [1-9]/);
    assert.match(text, /roster_xds_pushes_total\{type="cds"\} [1-9]/);
    assert.match(text, /roster_xds_nacks_total\{type="cds"\} [1-9]/);
  });

  it("GetStatus reports the node's xDS clients, followed services, pushes, NACKs and hold", async () => {
    const before = (await t.client.getStatus({})).xds!;
    await register("counted", "a");
    const c = open();
    c.send({ typeUrl: CDS, resourceNames: ["default/counted"] });
    const r = await c.next();
    c.send({ typeUrl: CDS, resourceNames: ["default/counted"], versionInfo: "0", responseNonce: r.nonce, errorDetail: { code: 3, message: "no" } });
    await c.quiet(100);
    const now = (await t.client.getStatus({})).xds!;
    assert.equal(now.clients, before.clients + 1);
    assert.ok(now.services >= 1);
    assert.equal(now.pushes, before.pushes + 1n);
    assert.equal(now.nacks, before.nacks + 1n);
    assert.equal(now.holding, false, "no start-up hold on this node (xds-startup-hold-ms 0)");
    c.close();
    await c.quiet(100);
    assert.equal((await t.client.getStatus({})).xds!.clients, before.clients);
  });
});

async function scrape(t: TestServer): Promise<string> {
  const http2 = await import("node:http2");
  return new Promise((resolve, reject) => {
    const s = http2.connect(t.url);
    const req = s.request({ ":path": "/metrics" });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      s.close();
      resolve(body);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("xDS: fan-out", function () {
  it("1,000 clients subscribed to one service get one push each per change", async function () {
    this.timeout(60000);
    const t = await startTestServer({ timing: { xdsPushDelayMs: 20, xdsStartupHoldMs: 0 } });
    // A short idle timeout so the shared connection does not outlive the test by the default 15 s.
    const transport = createGrpcTransport({ baseUrl: t.url, idleConnectionTimeoutMs: 200 });
    const clients = Array.from({ length: 1000 }, () => rawAdsClient(t.url, {}, transport));
    try {
      await t.client.register({ service: "fan", id: "a", host: "127.0.0.1", port: 9900, status: InstanceStatus.HEALTHY });
      for (const c of clients) c.send({ typeUrl: EDS, resourceNames: ["default/fan"] });
      const first = await Promise.all(clients.map((c) => c.next(20000)));
      clients.forEach((c, i) => c.send({ typeUrl: EDS, resourceNames: ["default/fan"], versionInfo: first[i]!.versionInfo, responseNonce: first[i]!.nonce }));
      await Promise.all(Array.from({ length: 5 }, (_, i) => t.client.register({ service: "fan", id: `b${i}`, host: "127.0.0.1", port: 9901 + i, status: InstanceStatus.HEALTHY })));
      const pushed = await Promise.all(clients.map((c) => c.next(20000)));
      assert.ok(pushed.every((r) => endpointAddresses(assignments(r)[0]!).length === 6));
      const quiet = await Promise.all(clients.map((c) => c.quiet(300)));
      assert.ok(quiet.every(Boolean), "one push per client for the burst");
    } finally {
      for (const c of clients) c.close();
      await t.close();
    }
  });
});

describe("xDS: push-empty protection", function () {
  it("withholds an empty endpoint set during the start-up hold and publishes the real state when it ends", async () => {
    const t = await startTestServer({ timing: { xdsPushDelayMs: 10, xdsStartupHoldMs: 600 } });
    const c = rawAdsClient(t.url);
    try {
      c.send({ typeUrl: LDS, resourceNames: ["gone"] });
      const l = await c.next();
      assert.equal(l.resources.length, 1, "during the hold a service with no instance is taken to be on its way back");
      c.send({ typeUrl: LDS, resourceNames: ["gone"], versionInfo: l.versionInfo, responseNonce: l.nonce });
      c.send({ typeUrl: EDS, resourceNames: ["default/gone"] });
      assert.ok(await c.quiet(300), "no empty load assignment is pushed during the hold");
      const r = await c.next(2000);
      assert.equal(r.typeUrl, LDS);
      assert.equal(r.resources.length, 0, "after the hold the unknown service does not exist");
    } finally {
      c.close();
      await t.close();
    }
  });
});
