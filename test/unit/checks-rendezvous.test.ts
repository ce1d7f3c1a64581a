import { strict as assert } from "node:assert";
import { owner } from "../../src/server/checks/rendezvous.js";

const checks = Array.from({ length: 10_000 }, (_, i) => `default/svc-${i % 97}/i-${i}#http`);

function assignment(nodes: readonly string[]): Map<string, string> {
  return new Map(checks.map((c) => [c, owner(c, nodes)!]));
}

describe("checks: rendezvous ownership (SEMANTICS 6.2)", () => {
  it("6.2 every node computes the same owner for a check, whatever the order it lists the nodes in", () => {
    const a = assignment(["n1", "n2", "n3"]);
    const b = assignment(["n3", "n1", "n2"]);
    assert.deepEqual([...a], [...b]);
  });

  it("6.2 checks are spread evenly over the nodes", () => {
    const counts = new Map<string, number>();
    for (const n of assignment(["n1", "n2", "n3", "n4"]).values()) counts.set(n, (counts.get(n) ?? 0) + 1);
    assert.equal(counts.size, 4);
    for (const c of counts.values()) assert.ok(c > 2_200 && c < 2_800, `one node owns ${c} of 10,000`);
  });

  it("6.2 adding a node moves only about 1/N of the checks, all of them to the new node", () => {
    const before = assignment(["n1", "n2", "n3"]);
    const after = assignment(["n1", "n2", "n3", "n4"]);
    let moved = 0;
    for (const [c, n] of after) {
      if (before.get(c) !== n) {
        moved++;
        assert.equal(n, "n4", `${c} moved between two old nodes`);
      }
    }
    assert.ok(moved > 2_200 && moved < 2_800, `${moved} of 10,000 moved (1/4 is 2,500)`);
  });

  it("6.2 removing a node moves only its own checks", () => {
    const before = assignment(["n1", "n2", "n3"]);
    const after = assignment(["n1", "n3"]);
    for (const [c, n] of before) if (n !== "n2") assert.equal(after.get(c), n);
  });

  it("a node alone owns everything; no nodes, no owner", () => {
    assert.equal(owner("default/a/b#tcp", ["solo"]), "solo");
    assert.equal(owner("default/a/b#tcp", []), undefined);
  });
});
