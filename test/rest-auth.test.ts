import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as path from "node:path";
import type * as tls from "node:tls";
import { ConnectError, createClient } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService, Strategy } from "../gen/roster/v1/registry_pb.js";
import { tokenHash } from "../src/server/auth/authenticator.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { makeCa, removeCa, type TestCa } from "./helpers/tls-certs.js";

// The REST paths call the same guarded handlers as the RPCs: a GET needs
// exactly the right of the RPC it stands for (ListServices: list; Resolve and
// a pick: read), and a refusal is the RPC's refusal as REST JSON.

type Role = "no credentials" | "unknown token" | "expired token" | "reader(shop)" | "workload(shop,cart)";
const tokens: Record<Role, string | undefined> = {
  "no credentials": undefined,
  "unknown token": "tok-nobody",
  "expired token": "tok-old",
  "reader(shop)": "tok-reader",
  "workload(shop,cart)": "tok-cart",
};

type Path = "list" | "instances" | "pick";
const paths: Record<Path, (ns: string) => string> = {
  list: (ns) => `/v1/services?namespace=${ns}`,
  instances: (ns) => `/v1/services/cart?namespace=${ns}`,
  pick: (ns) => `/v1/services/cart/pick?namespace=${ns}&strategy=random`,
};

// Written out from the issue-13 roles, independently of src/server/auth/policy.ts.
function expectedStatus(role: Role, p: Path, ns: "shop" | "bank"): number {
  if (role === "no credentials" || role === "unknown token" || role === "expired token") return 401;
  if (ns === "bank") return 403;
  if (role === "workload(shop,cart)" && p === "list") return 403; // a workload may resolve, not list
  return 200;
}

interface Answer {
  readonly status: number;
  readonly json: { code?: string; message?: string };
}

/** REST over HTTPS/1.1 (ALPN) on a port. */
function getHttp1(port: number, p: string, ca: Buffer, token: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const options: https.RequestOptions & tls.ConnectionOptions = { host: "127.0.0.1", port, path: p, ca, headers, agent: false, ALPNProtocols: ["http/1.1"] };
    https
      .get(options, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) as Answer["json"] }));
      })
      .on("error", reject);
  });
}

/** REST over HTTP/2 with TLS on the main port. */
function getHttp2(url: string, p: string, ca: Buffer, token: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, { ca });
    s.on("error", reject);
    const r = s.request({ ":path": p, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) });
    let status = 0;
    let body = "";
    r.on("response", (h) => (status = Number(h[":status"])));
    r.on("data", (c: Buffer) => (body += c.toString()));
    r.on("end", () => {
      s.close();
      resolve({ status, json: JSON.parse(body) as Answer["json"] });
    });
    r.on("error", reject);
    r.end();
  });
}

describe("REST under --auth, over TLS: a GET needs the right of the RPC it stands for (issue 11, 13)", function () {
  this.timeout(60000);
  let ca: TestCa;
  let t: TestServer;
  before(async () => {
    ca = makeCa();
    const server = ca.issue("server", "roster", "IP:127.0.0.1");
    fs.writeFileSync(
      path.join(ca.dir, "policy.json"),
      JSON.stringify({
        principals: {
          cart: [{ role: "workload", namespace: "shop", service: "cart" }],
          reader: [{ role: "reader", namespace: "shop" }],
          admin: [{ role: "admin", namespace: "*" }],
        },
      }),
    );
    fs.writeFileSync(
      path.join(ca.dir, "tokens.json"),
      JSON.stringify({
        tokens: [
          { sha256: tokenHash("tok-cart"), principal: "cart" },
          { sha256: tokenHash("tok-reader"), principal: "reader" },
          { sha256: tokenHash("tok-admin"), principal: "admin" },
          { sha256: tokenHash("tok-old"), principal: "reader", expiresAt: "2020-01-01T00:00:00Z" },
        ],
      }),
    );
    t = await startTestServer({
      http1Port: -1,
      tlsCert: server.certFile,
      tlsKey: server.keyFile,
      auth: "tokens",
      policyFile: path.join(ca.dir, "policy.json"),
      tokenFile: path.join(ca.dir, "tokens.json"),
      auditLog: path.join(ca.dir, "audit.log"),
    });
    const admin = rpcClient("tok-admin");
    for (const namespace of ["shop", "bank"]) await admin.register({ namespace, service: "cart", id: "c-1", host: "10.0.0.1", port: 80 });
  });
  after(async () => {
    await t.close();
    removeCa(ca);
  });

  function rpcClient(token: string | undefined) {
    const interceptors = token === undefined ? [] : [(next: (r: { header: Headers }) => Promise<unknown>) => (req: { header: Headers }) => (req.header.set("authorization", `Bearer ${token}`), next(req))] as never[];
    return createClient(RegistryService, createGrpcTransport({ baseUrl: t.url, nodeOptions: { ca: ca.cert }, interceptors }));
  }

  /** The same question asked as the RPC: its HTTP status as Connect maps the code, and the refusal's code and message. */
  async function rpc(p: Path, ns: string, token: string | undefined): Promise<Answer> {
    const c = rpcClient(token);
    try {
      if (p === "list") await c.listServices({ namespace: ns });
      else await c.resolve({ namespace: ns, service: "cart", strategy: p === "pick" ? Strategy.RANDOM : Strategy.UNSPECIFIED });
      return { status: 200, json: {} };
    } catch (e) {
      const err = ConnectError.from(e);
      return { status: codeToHttpStatus(err.code), json: { code: codeToString(err.code), message: err.rawMessage } };
    }
  }

  const frontEnds: Record<string, (p: string, token: string | undefined) => Promise<Answer>> = {
    "HTTPS/1.1 on the main port": (p, token) => getHttp1(t.port, p, ca.cert, token),
    "HTTP/2 over TLS on the main port": (p, token) => getHttp2(t.url, p, ca.cert, token),
    "HTTPS on --http1-port": (p, token) => getHttp1(t.server.http1Port!, p, ca.cert, token),
  };

  for (const [frontEnd, get] of Object.entries(frontEnds)) {
    it(`over ${frontEnd}: no or bad token 401 unauthenticated, reader 200 in its namespace, 403 permission_denied elsewhere; the same answer as the RPC`, async () => {
      const got: string[] = [];
      const want: string[] = [];
      for (const role of Object.keys(tokens) as Role[]) {
        for (const p of Object.keys(paths) as Path[]) {
          for (const ns of ["shop", "bank"] as const) {
            const url = paths[p](ns);
            const r = await get(url, tokens[role]);
            const same = await rpc(p, ns, tokens[role]);
            const refused = r.status === 200 ? "" : ` ${r.json.code}: ${r.json.message}`;
            got.push(`${role} ${url}: ${r.status}${refused}`);
            const status = expectedStatus(role, p, ns);
            const code = status === 401 ? "unauthenticated" : status === 403 ? "permission_denied" : undefined;
            assert.equal(same.json.code, code, `the RPC for ${role} ${url}`);
            want.push(`${role} ${url}: ${status}${status === 200 ? "" : ` ${code}: ${same.json.message}`}`);
          }
        }
      }
      assert.deepEqual(got, want);
    });
  }
});
