import { strict as assert } from "node:assert";
import { CheckProtection } from "../../src/server/checks/check-protection.js";

function protection(threshold = 0.5, minChecks = 10, maxMs = 120_000) {
  let t = 1_000;
  const log: { active: boolean; detail: string }[] = [];
  const p = new CheckProtection({ threshold, minChecks, maxMs, now: () => t, onChange: (active, detail) => log.push({ active, detail }) });
  return { p, log, advance: (ms: number) => (t += ms) };
}

describe("checks: protection (SEMANTICS 6.2)", () => {
  it("6.2 when more than the configured share of a node's checks fail at once, failures are not committed, said once", () => {
    const { p, log } = protection();
    for (let i = 0; i < 20; i++) p.record(`c${i}`, true);
    for (let i = 0; i < 10; i++) p.record(`c${i}`, false);
    assert.equal(p.active, false, "exactly half is not more than half");
    p.record("c10", false);
    assert.equal(p.active, true);
    p.record("c11", false);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.active, true);
    assert.match(log[0]!.detail, /11 of 20 checks \(55 %\)/);
  });

  it("6.2 protection ends, said once, when the share falls back to the threshold", () => {
    const { p, log, advance } = protection();
    for (let i = 0; i < 20; i++) p.record(`c${i}`, i >= 15);
    assert.equal(p.active, true);
    advance(4_000);
    for (let i = 0; i < 5; i++) p.record(`c${i}`, true);
    assert.equal(p.active, false);
    assert.equal(log.length, 2);
    assert.match(log[1]!.detail, /off after 4000 ms/);
  });

  it("6.2 protection needs at least check-protection-min-checks checks with a result", () => {
    const { p } = protection(0.5, 10);
    for (let i = 0; i < 9; i++) p.record(`c${i}`, false);
    assert.equal(p.active, false);
    p.record("c9", false);
    assert.equal(p.active, true);
  });

  it("6.2 a hold lasts at most check-protection-max-ms: then the failures are committed, said once, and protection does not start again until the share falls back", () => {
    const { p, log, advance } = protection(0.5, 10, 10_000);
    for (let i = 0; i < 20; i++) p.record(`c${i}`, i >= 15);
    assert.equal(p.active, true);
    advance(9_999);
    assert.equal(p.active, true);
    advance(1);
    assert.equal(p.active, false, "the hold lapsed");
    assert.equal(p.since, undefined);
    assert.match(log[1]!.detail, /lapsed after 10000 ms \(check-protection-max-ms\) with 15 of 20 checks failing/);
    p.record("c15", false);
    p.record("c16", false);
    assert.equal(p.active, false, "still over the threshold: no new hold");
    assert.equal(log.length, 2);
    for (let i = 0; i < 10; i++) p.record(`c${i}`, true);
    assert.equal(p.active, false, "fell back");
    for (let i = 0; i < 10; i++) p.record(`c${i}`, false);
    assert.equal(p.active, true, "a new mass failure after the fall-back holds again");
    assert.equal(log.length, 3);
  });

  it("a hold that lapses while the share has already fallen back leaves protection ready for the next fault", () => {
    const { p, advance } = protection(0.5, 10, 10_000);
    for (let i = 0; i < 20; i++) p.record(`c${i}`, i >= 15);
    advance(20_000);
    for (let i = 0; i < 15; i++) p.record(`c${i}`, true);
    assert.equal(p.active, false);
    for (let i = 0; i < 15; i++) p.record(`c${i}`, false);
    assert.equal(p.active, true);
  });

  it("a threshold of 1 disables protection", () => {
    const { p } = protection(1, 1);
    for (let i = 0; i < 50; i++) p.record(`c${i}`, false);
    assert.equal(p.active, false);
  });

  it("forgetting checks this node no longer runs takes them out of the share", () => {
    const { p } = protection(0.5, 2);
    p.record("a", false);
    p.record("b", false);
    p.record("c", true);
    assert.equal(p.active, true);
    p.forget("a");
    p.forget("b");
    assert.deepEqual(p.counts, { checks: 1, failing: 0 });
    assert.equal(p.active, false);
  });
});
