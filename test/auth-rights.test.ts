import assert from "node:assert/strict";
import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { RegistryService } from "../gen/roster/v1/registry_pb.js";
import { tokenHash } from "../src/server/auth/authenticator.js";
import { RegistryClient } from "../src/sdk/registry-client.js";
import { requiredRights, type Right } from "../src/server/auth/required-rights.js";
import type { RegistryHandlers } from "../src/server/registry-service.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { authNodeFiles, targets, type Target } from "./helpers/tls-auth-node.js";
import { makeCa, removeCa, type TestCa } from "./helpers/tls-certs.js";

type Outcome = "allowed" | "PERMISSION_DENIED" | "UNAUTHENTICATED";
type RoleName = "workload(shop,cart)" | "reader(shop)" | "admin(shop)" | "no credentials";

// What the issue says each role may do, written out independently of src/server/auth/policy.ts.
const expected: Record<RoleName, Record<Right, Record<Target, Outcome>>> = (() => {
  const all = (o: Outcome): Record<Target, Outcome> => ({ "own service": o, "other service": o, "other namespace": o });
  const inShop = (o: Outcome): Record<Target, Outcome> => ({ "own service": o, "other service": o, "other namespace": "PERMISSION_DENIED" });
  return {
    "workload(shop,cart)": {
      write: { "own service": "allowed", "other service": "PERMISSION_DENIED", "other namespace": "PERMISSION_DENIED" },
      read: inShop("allowed"),
      list: all("PERMISSION_DENIED"),
      status: all("allowed"),
    },
    "reader(shop)": { write: all("PERMISSION_DENIED"), read: inShop("allowed"), list: inShop("allowed"), status: all("allowed") },
    "admin(shop)": { write: inShop("allowed"), read: inShop("allowed"), list: inShop("allowed"), status: all("allowed") },
    "no credentials": { write: all("UNAUTHENTICATED"), read: all("UNAUTHENTICATED"), list: all("UNAUTHENTICATED"), status: all("UNAUTHENTICATED") },
  };
})();

const tokens: Record<RoleName, string | undefined> = {
  "workload(shop,cart)": "tok-cart",
  "reader(shop)": "tok-reader",
  "admin(shop)": "tok-admin",
  "no credentials": undefined,
};

type Registry = Client<typeof RegistryService>;

/** Calls `method` on `target` as the client's principal; only whether it got past the guard matters. */
async function attempt(c: Registry, method: keyof RegistryHandlers, t: { namespace: string; service: string }): Promise<Outcome> {
  const key = { ...t, id: "i-1" };
  try {
    switch (method) {
      case "register":
        await c.register({ ...key, host: "10.0.0.1", port: 80 });
        break;
      case "deregister":
        await c.deregister(key);
        break;
      case "heartbeat":
        await c.heartbeat((async function* () {
          yield key;
        })());
        break;
      case "resolve":
        await c.resolve(t);
        break;
      case "watch":
        for await (const _ of c.watch(t)) break;
        break;
      case "listServices":
        await c.listServices({ namespace: t.namespace });
        break;
      case "getStatus":
        await c.getStatus({});
        break;
    }
  } catch (e) {
    const code = ConnectError.from(e).code;
    if (code === Code.PermissionDenied) return "PERMISSION_DENIED";
    if (code === Code.Unauthenticated) return "UNAUTHENTICATED";
  }
  return "allowed";
}

describe("Rights (issue 13)", function () {
  this.timeout(60000);
  let ca: TestCa;
  let dir: string;
  let t: TestServer;
  let jwtKey: KeyObject;
  let auditFile: string;
  before(async () => {
    ca = makeCa();
    dir = ca.dir;
    const files = authNodeFiles(
      ca,
      {
        principals: {
          cart: [{ role: "workload", namespace: "shop", service: "cart" }],
          "cart-2": [{ role: "workload", namespace: "shop", service: "cart" }],
          reader: [{ role: "reader", namespace: "shop" }],
          admin: [{ role: "admin", namespace: "shop" }],
          "jwt-reader": [{ role: "reader", namespace: "shop" }],
        },
        subjects: { "CN=dashboard": "reader" },
      },
      [
        { token: "tok-cart", principal: "cart" },
        { token: "tok-cart2", principal: "cart-2" },
        { token: "tok-reader", principal: "reader" },
        { token: "tok-admin", principal: "admin" },
        { token: "tok-old", principal: "admin", expiresAt: "2020-01-01T00:00:00Z" },
        { token: "tok-far", principal: "reader", expiresAt: "2099-01-01T00:00:00Z" },
      ],
    );
    jwtKey = files.jwtKey;
    auditFile = files.auditFile;
    t = await startTestServer({ ...files.overrides, timing: { credentialReloadIntervalMs: 50 } });
  });
  after(async () => {
    await t.close();
    removeCa(ca);
  });

  const frontEnds: Record<string, (url: string, token: string | undefined, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }) => Transport> = {
    // Plain gRPC over HTTP/2 takes the server's fast path; the Connect protocol goes through connect-node's router.
    "gRPC (fast path)": (url, token, tls) => createGrpcTransport({ baseUrl: url, nodeOptions: tls, interceptors: bearer(token) }),
    Connect: (url, token, tls) => createConnectTransport({ baseUrl: url, httpVersion: "2", nodeOptions: tls, interceptors: bearer(token) }),
  };
  function bearer(token: string | undefined) {
    return token === undefined ? [] : [(next: (r: { header: Headers }) => Promise<unknown>) => (req: { header: Headers }) => (req.header.set("authorization", `Bearer ${token}`), next(req))] as never[];
  }

  for (const [frontEnd, transport] of Object.entries(frontEnds)) {
    describe(`over ${frontEnd}`, () => {
      for (const role of Object.keys(expected) as RoleName[]) {
        it(`every RPC x ${role} x (own service, other service, other namespace) is allowed or refused as the role says`, async () => {
          const c = createClient(RegistryService, transport(t.url, tokens[role], { ca: ca.cert }));
          const got: string[] = [];
          const want: string[] = [];
          for (const method of Object.keys(requiredRights) as (keyof RegistryHandlers)[]) {
            for (const target of Object.keys(targets) as Target[]) {
              got.push(`${method} ${target}: ${await attempt(c, method, targets[target])}`);
              want.push(`${method} ${target}: ${expected[role][requiredRights[method]][target]}`);
            }
          }
          assert.deepEqual(got, want);
        });
      }
    });
  }

  it("the SDK sends the token its callback returns, asking again before each call (refresh)", async () => {
    let current = "tok-reader";
    let asked = 0;
    const sdk = new RegistryClient(t.url, { ca: ca.cert, token: async () => (asked++, current) });
    try {
      await sdk.call((c) => c.listServices({ namespace: "shop" }));
      current = "tok-cart";
      await assert.rejects(sdk.call((c) => c.listServices({ namespace: "shop" })), (e) => ConnectError.from(e).code === Code.PermissionDenied);
      assert.equal(asked, 2);
    } finally {
      sdk.close();
    }
  });

  it("health stays reachable without credentials", async () => {
    const h = createClient(Health, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert } }));
    assert.equal((await h.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
  });

  it("hijack: a workload cannot heartbeat or deregister another service's instance by key, nor re-register it", async () => {
    const admin = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, "tok-admin", { ca: ca.cert }));
    await admin.register({ namespace: "shop", service: "billing", id: "b-1", host: "10.0.0.9", port: 80 });
    const cart = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, "tok-cart", { ca: ca.cert }));
    const key = { namespace: "shop", service: "billing", id: "b-1" };
    await assert.rejects(cart.deregister(key), (e) => ConnectError.from(e).code === Code.PermissionDenied);
    await assert.rejects(cart.register({ ...key, host: "6.6.6.6", port: 80 }), (e) => ConnectError.from(e).code === Code.PermissionDenied);
    await assert.rejects(
      cart.heartbeat((async function* () {
        yield key;
      })()),
      (e) => ConnectError.from(e).code === Code.PermissionDenied,
    );
    assert.equal((await admin.resolve({ namespace: "shop", service: "billing" })).instances[0]?.host, "10.0.0.9", "the instance is untouched");
  });

  for (const frontEnd of ["gRPC (fast path)", "Connect"]) {
    it(`hijack: an instance remembers the principal that registered it; another workload of the same service may not heartbeat, deregister or re-register it, an admin may deregister it (${frontEnd})`, async () => {
      const as = (token: string) => createClient(RegistryService, frontEnds[frontEnd]!(t.url, token, { ca: ca.cert }));
      const a = as("tok-cart");
      const b = as("tok-cart2");
      const key = { namespace: "shop", service: "cart", id: `owned-${frontEnd === "Connect" ? "c" : "g"}` };
      const beat = (c: Registry, status?: number) =>
        c.heartbeat((async function* () {
          yield { ...key, ...(status !== undefined ? { status } : {}) };
        })());
      const denied = (e: unknown) => ConnectError.from(e).code === Code.PermissionDenied && ConnectError.from(e).rawMessage.includes("belongs to another principal");
      await a.register({ ...key, host: "10.0.0.1", port: 80 });
      await assert.rejects(beat(b), denied);
      await assert.rejects(beat(b, 4), denied);
      await assert.rejects(b.deregister(key), denied);
      await assert.rejects(b.register({ ...key, host: "6.6.6.6", port: 81 }), denied);
      assert.equal((await beat(a)).beats, 1n, "the owner's own heartbeat works");
      const now = (await a.resolve({ namespace: "shop", service: "cart" })).instances.find((i) => i.id === key.id);
      assert.equal(now?.host, "10.0.0.1", "the instance is untouched");
      await as("tok-admin").deregister(key);
      assert.equal((await a.resolve({ namespace: "shop", service: "cart", allStatuses: true }).catch(() => ({ instances: [] }))).instances.some((i) => i.id === key.id), false);
      const lines = fs.readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(lines.some((l) => l.principal === "cart-2" && l.method === "deregister" && l.target === `shop/cart/${key.id}` && l.outcome === "PermissionDenied"), "the refusal is audited");
      assert.ok(lines.some((l) => l.principal === "cart-2" && l.method === "heartbeat" && l.target === `shop/cart/${key.id}` && l.outcome === "PermissionDenied"), "a refused heartbeat is audited");
    });
  }

  it("an expired or unknown token is UNAUTHENTICATED, and a revoked one too once the token file changes", async () => {
    for (const token of ["tok-old", "tok-nobody", "not.a.jwt"]) {
      const c = createClient(RegistryService, frontEnds.Connect!(t.url, token, { ca: ca.cert }));
      await assert.rejects(c.getStatus({}), (e) => ConnectError.from(e).code === Code.Unauthenticated, token);
    }
    const file = path.join(dir, "tokens.json");
    const before = fs.readFileSync(file, "utf8");
    const reader = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, "tok-reader", { ca: ca.cert }));
    await reader.getStatus({});
    const doc = JSON.parse(before) as { tokens: { sha256: string }[] };
    fs.writeFileSync(file, JSON.stringify({ tokens: doc.tokens.filter((x) => x.sha256 !== tokenHash("tok-reader")) }));
    try {
      await until("the revocation", async () => (await attempt(reader, "getStatus", targets["own service"])) === "UNAUTHENTICATED");
    } finally {
      fs.writeFileSync(file, before);
    }
  });

  it("a client certificate with a SPIFFE ID speaks for its workload, and a mapped subject for its principal", async () => {
    const cart = ca.issue("cart", "cart", "URI:spiffe://test/ns/shop/svc/cart");
    const c = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, undefined, { ca: ca.cert, cert: cart.cert, key: cart.key }));
    assert.equal(await attempt(c, "register", targets["own service"]), "allowed");
    assert.equal(await attempt(c, "register", targets["other service"]), "PERMISSION_DENIED");
    // Its instance is its own (issue 13): it deregisters it, leaving i-1 free for the matrix's workloads.
    assert.equal(await attempt(c, "deregister", targets["own service"]), "allowed");
    const dash = ca.issue("dash", "dashboard", "DNS:dashboard");
    const d = createClient(RegistryService, frontEnds.Connect!(t.url, undefined, { ca: ca.cert, cert: dash.cert, key: dash.key }));
    assert.equal(await attempt(d, "listServices", targets["own service"]), "allowed");
    assert.equal(await attempt(d, "register", targets["own service"]), "PERMISSION_DENIED");
  });

  for (const frontEnd of ["gRPC (fast path)", "Connect"]) {
    it(`a Watch whose JWT expires is ended with UNAUTHENTICATED (${frontEnd})`, async () => {
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("jwt-reader").setExpirationTime(Math.floor(Date.now() / 1000) + 2).sign(jwtKey);
      const c = createClient(RegistryService, frontEnds[frontEnd]!(t.url, jwt, { ca: ca.cert }));
      const started = Date.now();
      let messages = 0;
      await assert.rejects(
        (async () => {
          for await (const _ of c.watch({ namespace: "shop" })) messages++;
        })(),
        (e) => ConnectError.from(e).code === Code.Unauthenticated,
      );
      assert.ok(messages >= 1, "the watch was open before it ended");
      assert.ok(Date.now() - started >= 900, "it ended at expiry, not at once");
    });
  }

  it("a Watch with a token that expires in decades stays open (its expiry timer does not overflow)", async () => {
    const c = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, "tok-far", { ca: ca.cert }));
    const ac = new AbortController();
    let failure: unknown;
    let messages = 0;
    const watching = (async () => {
      for await (const _ of c.watch({ namespace: "shop" }, { signal: ac.signal })) messages++;
    })().catch((e: unknown) => (failure = e));
    await until("the snapshot", () => messages >= 1);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await watching;
    assert.equal(ConnectError.from(failure).code, Code.Canceled, "ended by our cancel, not by the server");
  });

  it("audits every write and refusal with principal, method, instance key and outcome, and not successful heartbeats", async () => {
    const cart = createClient(RegistryService, frontEnds["gRPC (fast path)"]!(t.url, "tok-cart", { ca: ca.cert }));
    await cart.register({ namespace: "shop", service: "cart", id: "audited", host: "10.0.0.1", port: 80 });
    await cart.heartbeat((async function* () {
      yield { namespace: "shop", service: "cart", id: "audited" };
    })());
    await attempt(cart, "deregister", targets["other namespace"]);
    const lines = fs.readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.target === "shop/cart/audited" || l.target === "bank/cart/i-1");
    assert.ok(mine.some((l) => l.principal === "cart" && l.method === "register" && l.target === "shop/cart/audited" && l.outcome === "ok"));
    assert.ok(mine.some((l) => l.principal === "cart" && l.method === "deregister" && l.target === "bank/cart/i-1" && l.outcome === "PermissionDenied"));
    assert.ok(!mine.some((l) => l.method === "heartbeat" && l.outcome === "ok"));
  });
});
