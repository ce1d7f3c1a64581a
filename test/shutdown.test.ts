import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { collectWatch } from "./helpers/watch.js";
import { sleep, startTestServer, until } from "./helpers/server.js";

describe("Graceful shutdown", function () {
  this.timeout(15000);

  it("ends open Watch and Heartbeat streams with UNAVAILABLE and closes within the grace period", async () => {
    const t = await startTestServer({ timing: { shutdownGraceMs: 2000 } });
    await t.client.register({ service: "bye", id: "a", host: "h", port: 1, ttl: { seconds: 30n } });
    const w = collectWatch(t.client, { service: "bye" });
    await w.waitFor(2);
    let stop!: () => void;
    const idle = new Promise<void>((r) => (stop = r));
    const hb = t.client
      .heartbeat((async function* () {
        yield { service: "bye", id: "a" };
        await idle;
      })())
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    await sleep(300); // let the heartbeat stream reach the server
    const started = Date.now();
    await t.close();
    const took = Date.now() - started;
    await until("watch ended", () => w.ended);
    assert.equal(ConnectError.from(w.error).code, Code.Unavailable, String(w.error));
    const hbErr = await hb;
    assert.equal(hbErr?.code, Code.Unavailable, String(hbErr));
    stop();
    assert.ok(took < 2500, `shutdown took ${took} ms`);
    await assert.rejects(t.client.getStatus({}), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
  });
});
