import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));
const repoBin = (name: string) => join(repo, "node_modules", ".bin", name);

/** Runs `node` (the one running the tests, so CI checks each Node it runs on) on a script in `dir`. */
async function node(dir: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: dir, timeout: 30_000 });
  return stdout;
}

/** Does `version` satisfy an engines range such as ">=20", "^16 || ^18 || >=20" or ">= 10.x"? */
export function satisfies(version: string, range: string): boolean {
  const v = version.split(".").map(Number);
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  };
  return range.split("||").some((alternative) => {
    const parts = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1").split(/\s+/).filter((p) => p !== "" && p !== "*" && p !== "x");
    return parts.every((part) => {
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?/.exec(part);
      if (!m) throw new Error(`cannot read the engines range ${JSON.stringify(range)}`);
      const [, op = "=", major, minor, patch] = m;
      const wild = (s: string | undefined) => s === undefined || s === "x" || s === "*";
      const b = [Number(major), wild(minor) ? 0 : Number(minor), wild(patch) ? 0 : Number(patch)];
      const c = cmp(v, b);
      switch (op) {
        case ">=":
          return c >= 0;
        case ">":
          return c > 0;
        case "<=":
          return c <= 0;
        case "<":
          return c < 0;
        case "^":
          return c >= 0 && v[0] === b[0];
        case "~":
          return c >= 0 && v[0] === b[0] && (wild(minor) || v[1] === b[1]);
        default:
          return v[0] === b[0] && (wild(minor) || v[1] === b[1]) && (wild(patch) || v[2] === b[2]);
      }
    });
  });
}

/** Every installed package under `modules` (scoped ones too), with its package.json. */
function installedPackages(modules: string): { name: string; engines?: { node?: string } }[] {
  const out: { name: string; engines?: { node?: string } }[] = [];
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith(".")) continue;
    const dirs = entry.startsWith("@") ? readdirSync(join(modules, entry)).map((e) => join(modules, entry, e)) : [join(modules, entry)];
    for (const dir of dirs) {
      const manifest = join(dir, "package.json");
      if (existsSync(manifest)) out.push(JSON.parse(readFileSync(manifest, "utf8")));
      if (existsSync(join(dir, "node_modules"))) out.push(...installedPackages(join(dir, "node_modules")));
    }
  }
  return out;
}

// The script the installed package is checked with: plain ESM, run by plain node.
const smoke = `
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Registrar, RegistryClient } from "roster";
import { resolveConfig, startServer } from "roster/server";
import { MemoryStore, createStore } from "roster/store";
import { RegistryService, RegisterRequestSchema } from "roster/gen";
import pkg from "roster/package.json" with { type: "json" };

const server = await startServer(resolveConfig({ host: "127.0.0.1", port: 0, logLevel: "error" }));
const registrar = new Registrar({ registry: server.url });
const registry = new RegistryClient(server.url);
try {
  const me = await registrar.register({ service: "echo", host: "127.0.0.1", port: 50051, ttlMs: 10_000 });
  const resolved = await registry.call((c) => c.resolve({ service: "echo" }));
  const { stdout } = await promisify(execFile)("node_modules/.bin/roster", ["ls", "--json", "--registry", server.url]);
  console.log(JSON.stringify({
    version: pkg.version,
    id: me.id,
    resolved: resolved.instances.map((i) => i.id),
    ls: JSON.parse(stdout).services,
    gen: [RegistryService.typeName, RegisterRequestSchema.typeName],
    store: [typeof MemoryStore, typeof createStore],
  }));
} finally {
  registry.close();
  await registrar.close();
  await server.close();
}
`;

// Records every module URL the ESM loader resolves, to see what an import pulls in.
const recorder = `
import { register } from "node:module";
import { MessageChannel } from "node:worker_threads";
const { port1, port2 } = new MessageChannel();
globalThis.resolved = [];
port1.on("message", (url) => globalThis.resolved.push(url));
port1.unref();
register("./record-hooks.mjs", import.meta.url, { data: { port: port2 }, transferList: [port2] });
`;
const recordHooks = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}
`;
const loads = (entry: string) => `
await import(${JSON.stringify(entry)});
await new Promise((r) => setTimeout(r, 100));
console.log(JSON.stringify(globalThis.resolved));
`;

describe("The published package (npm pack, installed in an empty ESM project)", function () {
  this.timeout(120_000);
  let tmp: string;
  let app: string;
  let files: string[];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "roster-pack-"));
    // prepack builds dist/ from the sources first.
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: repo, timeout: 90_000 });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed);
    files = packed.files.map((f) => f.path);
    app = join(tmp, "app");
    await run("mkdir", [app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    const tarball = join(tmp, packed.filename);
    // The test machine's npm cache holds every dependency (the repository's own install put them there).
    try {
      await run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: app, timeout: 90_000 });
    } catch {
      await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: app, timeout: 90_000 });
    }
    writeFileSync(join(app, "smoke.mjs"), smoke);
    writeFileSync(join(app, "record.mjs"), recorder);
    writeFileSync(join(app, "record-hooks.mjs"), recordHooks);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("ships the build, the protos, the README and the LICENSE, and nothing else", () => {
    const top = new Set(files.map((f) => f.split("/")[0]));
    assert.deepEqual([...top].sort(), ["LICENSE", "README.md", "bin", "dist", "package.json", "proto"]);
    assert.ok(files.includes("dist/src/index.js") && files.includes("dist/src/index.d.ts"));
    assert.ok(!files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript sources");
  });

  it("under plain node: imports every entry point, registers through the SDK against roster/server, and runs the roster binary", async () => {
    const out = JSON.parse(await node(app, ["smoke.mjs"]));
    assert.equal(out.version, JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version);
    assert.deepEqual(out.resolved, [out.id]);
    assert.deepEqual(out.ls.map((s: { name: string; instances: number }) => [s.name, s.instances]), [["echo", 1]]);
    assert.deepEqual(out.gen, ["roster.v1.RegistryService", "roster.v1.RegisterRequest"]);
    assert.deepEqual(out.store, ["function", "function"]);
  });

  it("roster (the client SDK) loads neither the server nor ioredis, pino or prom-client; roster/server does", async () => {
    const resolved = (entry: string) => node(app, ["--import", "./record.mjs", "--input-type=module", "-e", loads(entry)]).then((s) => JSON.parse(s) as string[]);
    const server = /\/node_modules\/(ioredis|pino|prom-client)\/|\/dist\/src\/(server|store)\//;
    const sdk = await resolved("roster");
    assert.ok(sdk.some((u) => u.includes("/dist/src/sdk/")), "the recorder sees the SDK load");
    assert.deepEqual(sdk.filter((u) => server.test(u)), []);
    const full = await resolved("roster/server");
    assert.ok(full.some((u) => /\/node_modules\/ioredis\//.test(u)) && full.some((u) => /\/node_modules\/pino\//.test(u)), "roster/server does load them");
  });

  it("type-checks a consumer of every entry point (the types conditions resolve)", async () => {
    writeFileSync(
      join(app, "consumer.ts"),
      [
        'import { Registrar, type RegistrationSpec } from "roster";',
        'import { startServer, type ServerConfig } from "roster/server";',
        'import type { Store } from "roster/store";',
        'import { RegistryService } from "roster/gen";',
        'const spec: RegistrationSpec = { service: "echo", host: "h", port: 1 };',
        "export const used: unknown[] = [Registrar, spec, startServer, RegistryService];",
        "export type Used = [ServerConfig, Store];",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ["consumer.ts"] }),
    );
    await run(repoBin("tsc"), ["-p", "."], { cwd: app, timeout: 60_000 }).catch((e: { stdout?: string }) => assert.fail(e.stdout ?? String(e)));
  });

  it("engines: every installed dependency admits the oldest Node 20 we claim and Node 24, as package.json claims", () => {
    const claimed = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).engines.node as string;
    // The oldest Node 20 we support (AbortSignal.any arrived in 20.3), and the LTS CI runs.
    const oldest = "20.3.0";
    assert.ok(satisfies(oldest, claimed) && satisfies("24.0.0", claimed) && !satisfies("20.2.0", claimed), claimed);
    const refusing = installedPackages(join(app, "node_modules"))
      .filter((p) => p.engines?.node !== undefined && !(satisfies(oldest, p.engines.node) && satisfies("24.0.0", p.engines.node)))
      .map((p) => `${p.name} ${p.engines?.node}`);
    assert.deepEqual(refusing, []);
  });
});
