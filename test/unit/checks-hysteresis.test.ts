import { strict as assert } from "node:assert";
import { Hysteresis } from "../../src/server/checks/hysteresis.js";

/** Feeds `results` ("p" pass, "f" fail) and settles every proposed flip; returns the verdicts proposed, one per result. */
function run(h: Hysteresis, results: string): (boolean | undefined)[] {
  return [...results].map((r) => {
    const flip = h.observe(r === "p");
    if (flip !== undefined) h.settle(flip);
    return flip;
  });
}

describe("checks: hysteresis (SEMANTICS 6.2)", () => {
  const options = { failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2 };

  it("6.2 a single failure never flips a passing check, however often it recurs", () => {
    const h = new Hysteresis(options, true);
    assert.deepEqual(run(h, "pfppfpfpfpp"), Array(11).fill(undefined));
    assert.equal(h.verdict, true);
  });

  it("6.2 failures-before-unhealthy failures in a row make the check FAILING, exactly at the Nth", () => {
    const h = new Hysteresis(options, true);
    assert.deepEqual(run(h, "fff"), [undefined, undefined, false]);
    assert.equal(h.verdict, false);
    assert.deepEqual(run(h, "ffff"), Array(4).fill(undefined), "no further flip while it keeps failing");
  });

  it("6.2 successes-before-healthy successes in a row make it PASSING again; one failure restarts the count", () => {
    const h = new Hysteresis(options, false);
    assert.deepEqual(run(h, "pfp"), [undefined, undefined, undefined]);
    assert.deepEqual(run(h, "p"), [true]);
    assert.equal(h.verdict, true);
  });

  it("6.2 a pending check is decided by the first full run either way", () => {
    assert.deepEqual(run(new Hysteresis(options), "pp"), [undefined, true]);
    assert.deepEqual(run(new Hysteresis(options), "fff"), [undefined, undefined, false]);
  });

  it("a flip that is not settled (not committed) is proposed again by the next agreeing result", () => {
    const h = new Hysteresis(options, true);
    assert.deepEqual([h.observe(false), h.observe(false), h.observe(false), h.observe(false)], [undefined, undefined, false, false]);
    h.settle(false);
    assert.equal(h.observe(false), undefined);
  });

  it("a verdict settled from outside (another node committed it) keeps the streak", () => {
    const h = new Hysteresis(options, true);
    h.observe(false);
    h.observe(false);
    h.settle(false);
    assert.equal(h.streak, -2);
    assert.equal(h.observe(false), undefined);
  });
});
