import { strict as assert } from "node:assert";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { GuardedSessionManager } from "../../src/sdk/guarded-session-manager.ts";

describe("SDK connections (GuardedSessionManager)", () => {
  let server: http2.Http2Server;
  let url: string;
  before(async () => {
    server = http2.createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a connection error after the manager let go of the connection does not crash the process", async () => {
    const manager = new GuardedSessionManager(url, { pingIntervalMs: 60_000, pingTimeoutMs: 1_000, idleConnectionTimeoutMs: 60_000 });
    const stream = await manager.request("GET", "/", {}, {});
    const session = stream.session!;
    stream.resume();
    await new Promise((resolve) => stream.on("close", resolve).end());
    // The manager moves on (a new connection after a failure), taking its own listeners off this one.
    manager.abort();
    // What Connect's ping timer does when it fires late: an error on a connection nobody else listens to.
    session.emit("error", new Error("PING timed out"));
    session.emit("error", new Error("PING timed out"));
    assert.ok(session.listenerCount("error") >= 1);
    session.destroy();
  });
});
