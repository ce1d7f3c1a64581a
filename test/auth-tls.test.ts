import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService, WatchEventType } from "../gen/roster/v1/registry_pb.js";
import { RegistryClient } from "../src/sdk/registry-client.js";
import { startTestServer, until, type TestServer } from "./helpers/server.js";
import { makeCa, removeCa, type TestCa, type CertFiles } from "./helpers/tls-certs.js";

const protoDir = fileURLToPath(new URL("../proto", import.meta.url));
const definition = protoLoader.loadSync("roster/v1/registry.proto", { includeDirs: [protoDir], longs: String, enums: String, defaults: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  roster: { v1: { RegistryService: new (address: string, creds: grpc.ChannelCredentials) => grpc.Client & { listServices(req: object, cb: (e: grpc.ServiceError | null, r: { services: { name: string }[] }) => void): void } } };
};

/** The CN of the certificate a fresh TLS connection to `port` is shown. */
function servedCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, ALPNProtocols: ["h2"] }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.end();
    });
    s.on("error", reject);
  });
}

function get(url: string, ca: Buffer, extra: https.RequestOptions & tls.ConnectionOptions = { agent: false, ALPNProtocols: ["http/1.1"] }): Promise<{ status: number; body: string; alpn: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, ...extra }, (res) => {
      const alpn = String((res.socket as tls.TLSSocket).alpnProtocol);
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, alpn }));
    });
    req.on("error", reject);
  });
}

describe("TLS listeners (issue 13)", function () {
  this.timeout(30000);
  let ca: TestCa;
  let server: CertFiles;
  let t: TestServer;
  before(async () => {
    ca = makeCa();
    server = ca.issue("server", "first", "IP:127.0.0.1,DNS:localhost");
    t = await startTestServer({ http1Port: -1, tlsCert: server.certFile, tlsKey: server.keyFile, timing: { credentialReloadIntervalMs: 50 } });
  });
  after(async () => {
    await t.close();
    removeCa(ca);
  });

  it("serves gRPC over TLS on the main port to a Connect client and to the SDK", async () => {
    assert.match(t.url, /^https:\/\//);
    const client = createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert } }));
    await client.register({ service: "tls-svc", id: "a", host: "10.0.0.1", port: 80 });
    const sdk = new RegistryClient(t.url, { ca: ca.cert });
    try {
      const r = await sdk.call((c) => c.resolve({ service: "tls-svc" }));
      assert.deepEqual(r.instances.map((i) => i.id), ["a"]);
    } finally {
      sdk.close();
    }
  });

  it("serves a grpc-js client with TLS credentials", async () => {
    const c = new pkg.roster.v1.RegistryService(`localhost:${t.port}`, grpc.credentials.createSsl(ca.cert));
    try {
      const r = await new Promise<{ services: { name: string }[] }>((resolve, reject) => c.listServices({}, (e, res) => (e ? reject(e) : resolve(res))));
      assert.ok(r.services.some((s) => s.name === "tls-svc"));
    } finally {
      c.close();
    }
  });

  it("refuses a client that does not trust the server's CA", async () => {
    const client = createClient(RegistryService, createGrpcTransport({ baseUrl: t.url }));
    await assert.rejects(client.listServices({}), /certificate/i);
  });

  it("takes HTTP/1.1 on the main port through ALPN (curl https://...), and on the HTTP/1.1 port", async () => {
    const main = await get(`${t.url}/healthz`, ca.cert);
    assert.equal(main.status, 200);
    assert.equal(main.alpn, "http/1.1");
    const connect = createClient(RegistryService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", nodeOptions: { ca: ca.cert } }));
    assert.ok((await connect.listServices({})).services.length >= 1);
    const h1 = await get(`https://127.0.0.1:${t.server.http1Port}/healthz`, ca.cert);
    assert.equal(h1.status, 200);
  });

  it("reloads a changed certificate: new connections get it, an open Watch goes on", async () => {
    const client = createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert } }));
    const ac = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of client.watch({ service: "rotate" }, { signal: ac.signal })) if (e.type === WatchEventType.ADDED && e.instance) seen.push(e.instance.id);
    })().catch(() => {});
    await client.register({ service: "rotate", id: "before", host: "10.0.0.1", port: 80 });
    await until("the first event", () => seen.includes("before"));
    assert.equal(await servedCn(t.port, ca.cert), "first");
    const next = ca.issue("server2", "second", "IP:127.0.0.1,DNS:localhost");
    // Written in place, as a renewal tool would (the stat poller sees the size or mtime change).
    fs.writeFileSync(server.keyFile, next.key);
    fs.writeFileSync(server.certFile, next.cert);
    await until("the new certificate", async () => (await servedCn(t.port, ca.cert)) === "second");
    await client.register({ service: "rotate", id: "after", host: "10.0.0.2", port: 80 });
    await until("an event after the rotation", () => seen.includes("after"));
    ac.abort();
    await watching;
  });
});

describe("mTLS (issue 13)", function () {
  this.timeout(30000);
  let ca: TestCa;
  let rogue: TestCa;
  let t: TestServer;
  before(async () => {
    ca = makeCa();
    rogue = makeCa("rogue");
    const server = ca.issue("server", "roster", "IP:127.0.0.1");
    t = await startTestServer({ tlsCert: server.certFile, tlsKey: server.keyFile, tlsClientCa: ca.certFile });
  });
  after(async () => {
    await t.close();
    removeCa(ca);
    removeCa(rogue);
  });

  it("accepts a client certificate from the client CA", async () => {
    const me = ca.issue("client", "cart", "URI:spiffe://test/ns/shop/svc/cart");
    const sdk = new RegistryClient(t.url, { ca: ca.cert, cert: me.cert, key: me.key });
    try {
      await sdk.call((c) => c.listServices({}));
    } finally {
      sdk.close();
    }
  });

  it("refuses a client certificate from an untrusted CA", async () => {
    const me = rogue.issue("client", "cart", "URI:spiffe://test/ns/shop/svc/cart");
    const client = createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert, cert: me.cert, key: me.key } }));
    await assert.rejects(client.listServices({}, { timeoutMs: 3000 }));
  });

  it("lets a probe without a certificate reach /healthz", async () => {
    assert.equal((await get(`${t.url}/healthz`, ca.cert)).status, 200);
  });
});
