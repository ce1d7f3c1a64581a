import assert from "node:assert/strict";
import { clientFor, startTestServer, until, type TestServer } from "./helpers/server.js";
import { startTcpRelay, type TcpRelay } from "./helpers/tcp-relay.js";
import { collectWatch } from "./helpers/watch.js";

describe("Connection keepalive", function () {
  this.timeout(15000);
  let t: TestServer;
  let relay: TcpRelay;
  before(async () => {
    t = await startTestServer({ timing: { keepaliveIntervalMs: 200, keepaliveTimeoutMs: 300 } });
    relay = await startTcpRelay(t.port);
  });
  after(async () => {
    await relay.close();
    await t.close();
  });

  it("keeps a quiet but live connection, and drops one whose client vanished, with its watch streams", async () => {
    const far = clientFor(`http://127.0.0.1:${relay.port}`);
    const watches = [collectWatch(far, { service: "ka" }), collectWatch(far, { service: "ka" })];
    await Promise.all(watches.map((w) => w.waitFor(1)));
    await new Promise((r) => setTimeout(r, 800)); // several ping rounds, all answered
    assert.equal((await t.client.getStatus({})).watchers, 2, "a live connection stays");
    relay.freeze();
    const frozenAt = Date.now();
    await until("the vanished client's streams are dropped", async () => (await t.client.getStatus({})).watchers === 0, 5000);
    const took = Date.now() - frozenAt;
    assert.ok(took < 2000, `dropped ${took} ms after the client went silent (interval 200 ms + timeout 300 ms)`);
    for (const w of watches) void w.stop();
  });
});
