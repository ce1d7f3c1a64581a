import assert from "node:assert/strict";
import { Backoff, backoffDelay } from "../../src/core/backoff.js";

describe("Backoff", () => {
  it("grows by the multiplier from the initial delay and stops at the maximum", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next()), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(b.attempt, 6);
  });

  it("starts over after reset", () => {
    const b = new Backoff({ initialMs: 10, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    assert.equal(b.attempt, 0);
    assert.equal(b.next(), 10);
  });

  it("takes up to the jitter share off each delay, never more", () => {
    assert.equal(backoffDelay(2, { initialMs: 100, jitter: 0.5, random: () => 0 }), 400);
    assert.equal(backoffDelay(2, { initialMs: 100, jitter: 0.5, random: () => 0.999999 }), 200);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(1, { initialMs: 100, jitter: 0.25 });
      assert.ok(d >= 150 && d <= 200, String(d));
    }
  });

  it("clamps the jitter to 0..1 and never lets the maximum fall below the initial delay", () => {
    assert.equal(backoffDelay(0, { initialMs: 100, jitter: 7, random: () => 0.5 }), 50);
    assert.equal(backoffDelay(5, { initialMs: 300, maxMs: 100, jitter: 0 }), 300);
  });

  it("defaults to 100 ms doubling to 5 s", () => {
    assert.equal(backoffDelay(0, { jitter: 0 }), 100);
    assert.equal(backoffDelay(20, { jitter: 0 }), 5000);
  });
});
