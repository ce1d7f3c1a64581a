import assert from "node:assert/strict";
import * as https from "node:https";
import type * as tls from "node:tls";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { makeCa, removeCa, type TestCa } from "./helpers/tls-certs.js";

/** A Connect-protocol envelope of one JSON message. */
function envelope(json: string): Buffer {
  const body = Buffer.from(json);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

interface Http1Call {
  readonly socket: tls.TLSSocket;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** Every response byte so far. */
  readonly body: () => string;
  /** Resolves when the response has ended (or the socket went away). */
  readonly ended: Promise<void>;
}

/** One request over a fresh keep-alive HTTP/1.1 TLS connection to the main port (ALPN http/1.1). */
function http1Call(t: TestServer, ca: Buffer, path: string, post?: Buffer): Promise<Http1Call> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const options: https.RequestOptions & tls.ConnectionOptions = {
    host: "127.0.0.1",
    port: t.port,
    path,
    method: post ? "POST" : "GET",
    ca,
    agent,
    ALPNProtocols: ["http/1.1"],
    headers: post ? { "content-type": "application/connect+json", "connect-protocol-version": "1" } : {},
  };
  return new Promise((resolve, reject) => {
    const req = https.request(
      options,
      (res) => {
        const socket = res.socket as tls.TLSSocket;
        assert.equal(socket.alpnProtocol, "http/1.1");
        let body = "";
        const ended = new Promise<void>((r) => {
          res.on("data", (d: Buffer) => (body += d.toString("latin1")));
          res.on("end", r);
          res.on("close", r);
        });
        const closed = new Promise<void>((r) => socket.once("close", () => r()));
        resolve({ socket, closed, body: () => body, ended });
      },
    );
    req.on("error", reject);
    req.end(post);
  });
}

describe("Shutdown with TLS: HTTP/1.1 connections on the main port (ALPN) are closed too", function () {
  this.timeout(30000);
  let ca: TestCa;
  before(() => {
    ca = makeCa();
  });
  after(() => removeCa(ca));

  const start = () => {
    const server = ca.issue("server", "roster", "IP:127.0.0.1");
    return startTestServer({ tlsCert: server.certFile, tlsKey: server.keyFile, timing: { shutdownGraceMs: 5000 } });
  };

  it("an idle keep-alive HTTP/1.1 connection is closed by the server at shutdown, and close() does not wait for the client", async () => {
    const t = await start();
    const call = await http1Call(t, ca.cert, "/healthz");
    await call.ended;
    const started = Date.now();
    await t.close();
    await Promise.race([call.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the idle HTTP/1.1 connection is still open 1 s after close()")), 1000))]);
    assert.ok(Date.now() - started < 2000, `close() plus the connection's end took ${Date.now() - started} ms`);
  });

  it("an HTTP/1.1 Watch (Connect protocol) in flight ends with UNAVAILABLE at shutdown and its connection is closed", async () => {
    const t = await start();
    const call = await http1Call(t, ca.cert, "/roster.v1.RegistryService/Watch", envelope("{}"));
    const started = Date.now();
    await t.close();
    await Promise.race([call.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the HTTP/1.1 Watch connection is still open 1 s after close()")), 1000))]);
    await call.ended;
    assert.match(call.body(), /"code":"unavailable"/);
    assert.ok(Date.now() - started < 2000, `close() plus the connection's end took ${Date.now() - started} ms`);
  });
});
