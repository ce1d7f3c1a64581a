import * as fs from "node:fs";
import type * as http2 from "node:http2";
import type { Interceptor } from "@connectrpc/connect";

/** A bearer token, or a callback that returns the current one (called before every call and stream, so it can refresh). */
export type TokenSource = string | (() => string | Promise<string>);

/** How the SDK proves who it is and whom it trusts. */
export interface ClientSecurity {
  /** PEM roots that sign the registry's certificate (default: the system roots). */
  readonly ca?: string | Buffer;
  /** PEM client certificate chain, for mTLS. */
  readonly cert?: string | Buffer;
  /** PEM private key of `cert`. */
  readonly key?: string | Buffer;
  /** Sent as `authorization: Bearer <token>`. */
  readonly token?: TokenSource;
}

/** The environment variables `securityFromEnv` reads: file paths, and the token itself. */
export const securityEnvVars = { ca: "ROSTER_TLS_CA", cert: "ROSTER_TLS_CLIENT_CERT", key: "ROSTER_TLS_CLIENT_KEY", token: "ROSTER_TOKEN" } as const;

/** Security from ROSTER_TLS_CA, ROSTER_TLS_CLIENT_CERT, ROSTER_TLS_CLIENT_KEY (PEM file paths) and ROSTER_TOKEN. */
export function securityFromEnv(env: NodeJS.ProcessEnv = process.env): ClientSecurity {
  const file = (name: string) => {
    const path = env[name];
    return path === undefined || path === "" ? {} : { [name]: fs.readFileSync(path) };
  };
  const f = { ...file(securityEnvVars.ca), ...file(securityEnvVars.cert), ...file(securityEnvVars.key) } as Record<string, Buffer>;
  const token = env[securityEnvVars.token];
  return {
    ...(f[securityEnvVars.ca] ? { ca: f[securityEnvVars.ca] } : {}),
    ...(f[securityEnvVars.cert] ? { cert: f[securityEnvVars.cert] } : {}),
    ...(f[securityEnvVars.key] ? { key: f[securityEnvVars.key] } : {}),
    ...(token ? { token } : {}),
  };
}

/** The TLS options of an HTTP/2 client session for `security`. */
export function sessionOptions(security: ClientSecurity): http2.SecureClientSessionOptions {
  return {
    ...(security.ca !== undefined ? { ca: security.ca } : {}),
    ...(security.cert !== undefined ? { cert: security.cert } : {}),
    ...(security.key !== undefined ? { key: security.key } : {}),
  };
}

/** The interceptors that put the token on every call (none without a token). */
export function tokenInterceptors(token: TokenSource | undefined): Interceptor[] {
  if (token === undefined) return [];
  return [
    (next) => async (req) => {
      req.header.set("authorization", `Bearer ${typeof token === "string" ? token : await token()}`);
      return next(req);
    },
  ];
}
