import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const buf = join(root, "node_modules", ".bin", "buf");
// buf runs the local protoc-gen-es plugin, which must be on PATH.
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("Schema and generated code", function () {
  this.timeout(60000);

  it("proto/ passes buf lint", () => {
    execFileSync(buf, ["lint"], { cwd: root, env, stdio: "pipe" });
  });

  it("gen/ is what `npx buf generate` makes from proto/ (regenerate and commit when this fails)", () => {
    const out = mkdtempSync(join(tmpdir(), "roster-gen-"));
    try {
      execFileSync(buf, ["generate", "-o", out], { cwd: root, env, stdio: "pipe" });
      const fresh = files(join(out, "gen")).map((f) => relative(join(out, "gen"), f)).sort();
      const committed = files(join(root, "gen")).map((f) => relative(join(root, "gen"), f)).sort();
      assert.deepEqual(committed, fresh, "the set of generated files differs");
      for (const f of fresh) {
        assert.equal(readFileSync(join(root, "gen", f), "utf8"), readFileSync(join(out, "gen", f), "utf8"), `gen/${f} is out of date`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
