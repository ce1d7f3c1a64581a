import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { delay } from "../../src/core/delay.js";

describe("delay (the SDK's one abortable wait)", () => {
  it("resolves after the time given", async () => {
    const t = Date.now();
    await delay(30);
    assert.ok(Date.now() - t >= 25);
  });

  it("resolves at once when the signal aborts, and leaves no listener behind", async () => {
    const ac = new AbortController();
    const t = Date.now();
    const waiting = delay(10_000, ac.signal);
    assert.equal(getEventListeners(ac.signal, "abort").length, 1);
    ac.abort();
    await waiting;
    assert.ok(Date.now() - t < 1000);
    assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  });

  it("resolves at once on an already aborted signal, and removes its listener after a normal end", async () => {
    await delay(10_000, AbortSignal.abort());
    const ac = new AbortController();
    await delay(1, ac.signal);
    assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  });
});
