import { generateKeyPairSync, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigOverrides } from "../../src/config.js";
import { tokenHash } from "../../src/server/auth/authenticator.js";
import type { TestCa } from "./tls-certs.js";

/** Where a rights test aims, seen from workload(shop, cart): its own service, another of its namespace, and one of another namespace. */
export type Target = "own service" | "other service" | "other namespace";

/** The (namespace, service) of each target. */
export const targets: Record<Target, { namespace: string; service: string }> = {
  "own service": { namespace: "shop", service: "cart" },
  "other service": { namespace: "shop", service: "billing" },
  "other namespace": { namespace: "bank", service: "cart" },
};

/** One line of a token file, with the token in clear (hashed when written). */
export interface TestToken {
  readonly token: string;
  readonly principal: string;
  readonly expiresAt?: string;
}

/** What `authNodeFiles` wrote, and the settings that start a node on them. */
export interface AuthNodeFiles {
  /** TLS with the CA's server certificate for 127.0.0.1, client certificates checked against the CA, auth `both`, the files below and an audit log. */
  readonly overrides: ConfigOverrides;
  /** Signs JWTs the node accepts (ES256). */
  readonly jwtKey: KeyObject;
  readonly policyFile: string;
  readonly tokenFile: string;
  readonly auditFile: string;
}

/** Writes, in the CA's directory, a server certificate, a JWT key pair, `policy` and `tokens` for a node with TLS, mTLS and auth `both`. */
export function authNodeFiles(ca: TestCa, policy: object, tokens: readonly TestToken[]): AuthNodeFiles {
  const at = (f: string) => path.join(ca.dir, f);
  const server = ca.issue("server", "roster", "IP:127.0.0.1");
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  fs.writeFileSync(at("jwt.pub"), pair.publicKey.export({ type: "spki", format: "pem" }));
  fs.writeFileSync(at("policy.json"), JSON.stringify(policy));
  fs.writeFileSync(at("tokens.json"), JSON.stringify({ tokens: tokens.map(({ token, ...rest }) => ({ sha256: tokenHash(token), ...rest })) }));
  const files = { policyFile: at("policy.json"), tokenFile: at("tokens.json"), auditFile: at("audit.log") };
  return {
    ...files,
    jwtKey: pair.privateKey,
    overrides: {
      tlsCert: server.certFile,
      tlsKey: server.keyFile,
      tlsClientCa: ca.certFile,
      auth: "both",
      policyFile: files.policyFile,
      tokenFile: files.tokenFile,
      jwtPublicKey: at("jwt.pub"),
      auditLog: files.auditFile,
    },
  };
}
