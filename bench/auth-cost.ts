/**
 * Server CPU per Register and per heartbeat message: cleartext, TLS, and TLS
 * with auth (opaque bearer token; client certificate), each on its own
 * `roster serve` child process, driven over plain gRPC (the fast path).
 *
 *   npx tsx bench/auth-cost.ts            # prints one JSON object per setup
 *
 * Not hooked into bench/main.ts (owned elsewhere): run it on its own.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/roster/v1/registry_pb.js";
import { tokenHash } from "../src/server/auth/authenticator.js";
import { makeCa, removeCa } from "../test/helpers/tls-certs.js";
import { freePort } from "./servers.ts";
import { pool, window } from "./measure.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const registers = Number(process.env.AUTH_BENCH_REGISTERS ?? 4000);
const streams = 100;
const beatsPerStream = Number(process.env.AUTH_BENCH_BEATS ?? 100);

interface Setup {
  readonly name: string;
  readonly flags: string[];
  readonly tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  readonly token?: string;
}

async function run(setup: Setup): Promise<Record<string, unknown>> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", String(port), "--log-level", "warn", "--audit-log", "off", ...setup.flags], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const url = `${setup.tls ? "https" : "http"}://127.0.0.1:${port}`;
  const interceptors: Interceptor[] = setup.token ? [(next) => (req) => (req.header.set("authorization", `Bearer ${setup.token}`), next(req))] : [];
  const sessions = new Http2SessionManager(url, {}, setup.tls ?? {});
  const c = createClient(RegistryService, createGrpcTransport({ baseUrl: url, sessionManager: sessions, interceptors }));
  try {
    for (let i = 0; ; i++) {
      try {
        await c.getStatus({});
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const key = (i: number) => ({ namespace: "shop", service: "cart", id: `i-${i}` });
    // Warm-up, unmeasured: the JIT and the TLS session settle before the windows open.
    await pool(2000, 32, async (i) => void (await c.register({ namespace: "shop", service: "cart", id: `warm-${i}`, host: "10.0.0.1", port: 80, ttl: { seconds: 600n } })));
    let w = window([child.pid!]);
    await pool(registers, 32, async (i) => void (await c.register({ ...key(i), host: "10.0.0.1", port: 80, ttl: { seconds: 600n } })));
    const reg = w.end();
    w = window([child.pid!]);
    await pool(streams, streams, async (s) => {
      await c.heartbeat((async function* () {
        for (let b = 0; b < beatsPerStream; b++) {
          yield key(s);
          await new Promise((r) => setImmediate(r));
        }
      })());
    });
    const beat = w.end();
    return {
      setup: setup.name,
      registerServerCpuUs: Math.round((reg.serverCpuMs * 1000) / registers),
      heartbeatServerCpuUs: Math.round(((beat.serverCpuMs * 1000) / (streams * beatsPerStream)) * 10) / 10,
      registers,
      heartbeats: streams * beatsPerStream,
    };
  } finally {
    sessions.abort();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

const ca = makeCa();
try {
  const server = ca.issue("server", "roster", "IP:127.0.0.1");
  const client = ca.issue("cart", "cart", "URI:spiffe://bench/ns/shop/svc/cart");
  const policy = path.join(ca.dir, "policy.json");
  fs.writeFileSync(policy, JSON.stringify({ principals: { cart: [{ role: "workload", namespace: "shop", service: "cart" }] } }));
  const tokens = path.join(ca.dir, "tokens.json");
  fs.writeFileSync(tokens, JSON.stringify({ tokens: [{ sha256: tokenHash("bench-token"), principal: "cart" }] }));
  const tls = ["--tls-cert", server.certFile, "--tls-key", server.keyFile];
  const setups: Setup[] = [
    { name: "cleartext, auth off", flags: [] },
    { name: "TLS, auth off", flags: tls, tls: { ca: ca.cert } },
    { name: "TLS, auth tokens (opaque)", flags: [...tls, "--auth", "tokens", "--policy-file", policy, "--token-file", tokens], tls: { ca: ca.cert }, token: "bench-token" },
    { name: "mTLS, auth mtls (SPIFFE)", flags: [...tls, "--tls-client-ca", ca.certFile, "--auth", "mtls", "--policy-file", policy], tls: { ca: ca.cert, cert: client.cert, key: client.key } },
  ];
  for (const s of setups) console.log(JSON.stringify(await run(s)));
} finally {
  removeCa(ca);
}
