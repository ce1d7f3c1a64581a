import assert from "node:assert/strict";
import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { ClusterSchema } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { ListenerSchema } from "../gen/envoy/config/listener/v3/listener_pb.js";
import type { DiscoveryResponse } from "../gen/envoy/service/discovery/v3/discovery_pb.js";
import { InstanceStatus, RegistryService } from "../gen/roster/v1/registry_pb.js";
import { TypeUrl } from "../src/server/xds/resources.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { authNodeFiles, targets, type Target } from "./helpers/tls-auth-node.js";
import { makeCa, removeCa, type CertFiles, type TestCa } from "./helpers/tls-certs.js";
import { assignments, endpointAddresses, rawAdsClient, type RawAdsClient } from "./helpers/xds-raw-client.js";

type RoleName = "workload(shop,cart) by token" | "workload(shop,cart) by SPIFFE certificate" | "reader(shop)" | "admin(shop)";

// ADS needs the right Resolve and Watch need; written out independently of src/server/auth/policy.ts.
const sees: Record<RoleName, Record<Target, boolean>> = {
  "workload(shop,cart) by token": { "own service": true, "other service": true, "other namespace": false },
  "workload(shop,cart) by SPIFFE certificate": { "own service": true, "other service": true, "other namespace": false },
  "reader(shop)": { "own service": true, "other service": true, "other namespace": false },
  "admin(shop)": { "own service": true, "other service": true, "other namespace": false },
};

const names = (r: DiscoveryResponse, schema: typeof ListenerSchema | typeof ClusterSchema) => r.resources.map((a) => anyUnpack(a, schema)!.name).sort();

describe("xDS with --auth on (issue 13: rights for ADS)", function () {
  this.timeout(60000);
  let ca: TestCa;
  let t: TestServer;
  let spiffe: CertFiles;
  let jwtKey: KeyObject;
  let auditFile: string;
  const clients: RawAdsClient[] = [];

  function bearer(token: string | undefined): Interceptor[] {
    return token === undefined ? [] : [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))];
  }
  function open(credential: { token?: string; cert?: CertFiles }, namespace = "shop"): RawAdsClient {
    const nodeOptions = { ca: ca.cert, ...(credential.cert ? { cert: credential.cert.cert, key: credential.cert.key } : {}) };
    const c = rawAdsClient(t.url, { metadata: { "roster.namespace": namespace } }, createGrpcTransport({ baseUrl: t.url, nodeOptions, interceptors: bearer(credential.token) }));
    clients.push(c);
    return c;
  }
  const credentials: Record<RoleName, () => { token?: string; cert?: CertFiles }> = {
    "workload(shop,cart) by token": () => ({ token: "tok-cart" }),
    "workload(shop,cart) by SPIFFE certificate": () => ({ cert: spiffe }),
    "reader(shop)": () => ({ token: "tok-reader" }),
    "admin(shop)": () => ({ token: "tok-admin" }),
  };
  const auditLines = () => fs.readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    ca = makeCa();
    spiffe = ca.issue("cart", "cart", "URI:spiffe://acme/ns/shop/svc/cart");
    const files = authNodeFiles(
      ca,
      {
        principals: {
          cart: [{ role: "workload", namespace: "shop", service: "cart" }],
          reader: [{ role: "reader", namespace: "shop" }],
          admin: [{ role: "admin", namespace: "shop" }],
          root: [{ role: "admin", namespace: "*" }],
          "jwt-reader": [{ role: "reader", namespace: "shop" }],
        },
      },
      ["cart", "reader", "admin", "root"].map((p) => ({ token: `tok-${p}`, principal: p })),
    );
    jwtKey = files.jwtKey;
    auditFile = files.auditFile;
    t = await startTestServer({ ...files.overrides, timing: { xdsPushDelayMs: 20, xdsStartupHoldMs: 0 } });
    const root = createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert }, interceptors: bearer("tok-root") }));
    let port = 9500;
    for (const { namespace, service } of Object.values(targets)) await root.register({ namespace, service, id: "i-1", host: "127.0.0.1", port: port++, status: InstanceStatus.HEALTHY });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await t?.close();
    removeCa(ca);
  });

  for (const role of Object.keys(sees) as RoleName[]) {
    it(`${role} x (own service, other service, other namespace): Listener and Cluster show exactly the services it may Resolve and Watch`, async () => {
      const c = open(credentials[role]());
      const listenerName: Record<Target, string> = { "own service": "cart", "other service": "billing", "other namespace": "bank/cart" };
      c.send({ typeUrl: TypeUrl.listener, resourceNames: [...Object.values(listenerName), "nosuch"] });
      const l = await c.next();
      const wantListeners = (Object.keys(targets) as Target[]).filter((x) => sees[role][x]).map((x) => listenerName[x]);
      assert.deepEqual(names(l, ListenerSchema), wantListeners.sort());
      c.send({ typeUrl: TypeUrl.cluster, resourceNames: Object.values(targets).map((x) => `${x.namespace}/${x.service}`) });
      const cl = await c.next();
      const wantClusters = (Object.keys(targets) as Target[]).filter((x) => sees[role][x]).map((x) => `${targets[x].namespace}/${targets[x].service}`);
      assert.deepEqual(names(cl, ClusterSchema), wantClusters.sort());
    });
  }

  it("a service the principal may not read is answered exactly as one that does not exist (Listener, Cluster, load assignment)", async () => {
    const hidden = open({ token: "tok-reader" });
    const missing = open({ token: "tok-reader" });
    hidden.send({ typeUrl: TypeUrl.listener, resourceNames: ["bank/cart"] });
    missing.send({ typeUrl: TypeUrl.listener, resourceNames: ["bank/nosuch"] });
    const [h, m] = [await hidden.next(), await missing.next()];
    assert.deepEqual([h.resources.length, h.versionInfo], [m.resources.length, m.versionInfo]);
    assert.equal(h.resources.length, 0);
    hidden.send({ typeUrl: TypeUrl.endpoints, resourceNames: ["bank/cart"] });
    missing.send({ typeUrl: TypeUrl.endpoints, resourceNames: ["bank/nosuch"] });
    assert.ok(await hidden.quiet(300), "no load assignment for a hidden service");
    assert.ok(await missing.quiet(1), "none for a missing one either");
    // The admin of bank's namespace does get it, on the same node.
    const root = open({ token: "tok-root" });
    root.send({ typeUrl: TypeUrl.endpoints, resourceNames: ["bank/cart"] });
    assert.deepEqual(endpointAddresses(assignments(await root.next())[0]!), ["127.0.0.1:9502"]);
  });

  it("an unqualified Listener name is read in the namespace the node metadata names, and needs the right there", async () => {
    const c = open({ token: "tok-cart" }, "bank");
    c.send({ typeUrl: TypeUrl.listener, resourceNames: ["cart"] });
    assert.equal((await c.next()).resources.length, 0, "bank/cart is not the workload's to read");
    const root = open({ token: "tok-root" }, "bank");
    root.send({ typeUrl: TypeUrl.listener, resourceNames: ["cart"] });
    assert.equal((await root.next()).resources.length, 1);
  });

  it("a stream without credentials, or with an unknown token, ends with UNAUTHENTICATED, and is audited", async () => {
    for (const token of [undefined, "tok-nobody"]) {
      const c = open({ ...(token !== undefined ? { token } : {}) });
      c.send({ typeUrl: TypeUrl.listener, resourceNames: ["cart"] });
      await assert.rejects(c.next(), (e) => ConnectError.from(e).code === Code.Unauthenticated, String(token));
    }
    const refusals = auditLines().filter((l) => l.method === "streamAggregatedResources" && l.outcome === "Unauthenticated");
    assert.ok(refusals.length >= 2, JSON.stringify(refusals));
  });

  it("a refused name is audited once per stream, with the principal and the service, however often the client asks", async () => {
    const c = open({ token: "tok-reader" });
    for (let i = 0; i < 3; i++) {
      c.send({ typeUrl: TypeUrl.cluster, resourceNames: ["shop/cart", "bank/billing"], ...(i > 0 ? { responseNonce: c.received.at(-1)!.nonce } : {}) });
      if (i === 0) await c.next();
    }
    await until("the refusal is audited", () => auditLines().some((l) => l.target === "bank/billing"));
    const lines = auditLines().filter((l) => l.target === "bank/billing");
    assert.deepEqual(lines.map((l) => [l.principal, l.method, l.outcome]), [["reader", "streamAggregatedResources", "PermissionDenied"]]);
    assert.ok(!auditLines().some((l) => l.target === "shop/cart"), "a granted read is not audited");
  });

  it("a stream whose JWT expires ends with UNAUTHENTICATED at the expiry, like Watch", async () => {
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("jwt-reader").setExpirationTime(Math.floor(Date.now() / 1000) + 2).sign(jwtKey);
    const c = open({ token: jwt });
    const started = Date.now();
    c.send({ typeUrl: TypeUrl.listener, resourceNames: ["cart"] });
    assert.equal((await c.next()).resources.length, 1, "the stream was open and served before it ended");
    await assert.rejects(c.next(5000), (e) => ConnectError.from(e).code === Code.Unauthenticated);
    assert.ok(Date.now() - started >= 900, "it ended at expiry, not at once");
  });
});
