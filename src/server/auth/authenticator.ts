import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { jwtVerify } from "jose";
import type { ServerConfig } from "../../config.js";
import { unauthenticated } from "../../errors.js";
import { emptyPolicy, impliedRoles, parsePolicy, type Policy, type Role } from "./policy.js";
import type { RequestScope } from "./request-scope.js";
import { parseSettingFile } from "./read-setting-file.js";
import { parseTokenFile, type TokenEntry } from "./token-file.js";
import { watchFiles } from "./watch-files.js";

/** Who is calling, and what they may do. */
export interface Principal {
  readonly name: string;
  readonly roles: readonly Role[];
  /** When the credential stops being valid (ms since the epoch); open streams end then. */
  readonly expiresAt: number | undefined;
}

/** Hex SHA-256 of an opaque token, as the token file stores it. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Turns a request's credentials into a principal, per `--auth`: a bearer
 * token (a JWT verified with `jwt-public-key`, or an opaque token looked up
 * by hash in `token-file`) and/or the client certificate (its SPIFFE URI SAN,
 * or its subject mapped in the policy). A credential that is presented but
 * invalid is refused, even if another would pass. The policy and token files
 * are re-read when they change; a file that no longer parses keeps the last
 * good version and is reported through `onReloadError`.
 */
export class Authenticator {
  readonly #mode: ServerConfig["auth"];
  readonly #jwtKey: KeyObject | undefined;
  readonly #certNames = new WeakMap<object, string | null>();
  readonly #stop: () => void;
  #policy: Policy = emptyPolicy;
  #tokens: ReadonlyMap<string, TokenEntry> = new Map();

  constructor(config: ServerConfig, onReloadError: (e: unknown) => void = () => {}) {
    this.#mode = config.auth;
    this.#jwtKey = config.jwtPublicKey === "" ? undefined : parseSettingFile("jwt-public-key", config.jwtPublicKey, (pem) => createPublicKey(pem));
    const load = () => {
      this.#policy = parseSettingFile("policy-file", config.policyFile, parsePolicy);
      if (config.tokenFile !== "") this.#tokens = parseSettingFile("token-file", config.tokenFile, parseTokenFile);
    };
    load();
    const files = [config.policyFile, ...(config.tokenFile !== "" ? [config.tokenFile] : [])];
    this.#stop = watchFiles(files, config.timing.credentialReloadIntervalMs, () => {
      try {
        load();
      } catch (e) {
        onReloadError(e);
      }
    });
  }

  /** The caller of the request in `scope`; throws UNAUTHENTICATED without valid credentials. */
  async authenticate(scope: RequestScope | undefined, now = Date.now()): Promise<Principal> {
    const useTokens = this.#mode === "tokens" || this.#mode === "both";
    const useCerts = this.#mode === "mtls" || this.#mode === "both";
    if (useTokens && scope?.authorization !== undefined) return this.#fromToken(scope.authorization, now);
    const name = useCerts && scope ? this.#fromCertificate(scope) : undefined;
    if (name !== undefined) return this.#principal(name, undefined);
    throw unauthenticated(`no credentials: this registry wants ${useTokens && useCerts ? "a bearer token or a client certificate" : useTokens ? "a bearer token" : "a client certificate"}`);
  }

  /** Stops watching the files. */
  close(): void {
    this.#stop();
  }

  #principal(name: string, expiresAt: number | undefined): Principal {
    return { name, roles: [...impliedRoles(name), ...(this.#policy.principals.get(name) ?? [])], expiresAt };
  }

  async #fromToken(header: string, now: number): Promise<Principal> {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw unauthenticated("the authorization header is not a bearer token");
    const token = m[1]!;
    if (token.split(".").length === 3) {
      if (this.#jwtKey === undefined) throw unauthenticated("JWT bearer tokens are not accepted here (no jwt-public-key)");
      try {
        const { payload } = await jwtVerify(token, this.#jwtKey, { currentDate: new Date(now), requiredClaims: ["sub", "exp"] });
        return this.#principal(payload.sub!, payload.exp! * 1000);
      } catch (e) {
        throw unauthenticated(`invalid bearer token: ${(e as Error).message}`);
      }
    }
    const entry = this.#tokens.get(tokenHash(token));
    if (entry === undefined) throw unauthenticated("unknown bearer token");
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) throw unauthenticated("the bearer token has expired");
    return this.#principal(entry.principal, entry.expiresAt);
  }

  #fromCertificate(scope: RequestScope): string | undefined {
    const cached = this.#certNames.get(scope.connection);
    if (cached !== undefined) return cached ?? undefined;
    const socket = scope.tls;
    // An untrusted certificate never gets this far (the listener ends its connection); no certificate means no name, for the connection's life.
    if (!socket?.authorized) {
      this.#certNames.set(scope.connection, null);
      return undefined;
    }
    const cert = socket.getPeerCertificate();
    const uri = (cert.subjectaltname ?? "").split(", ").find((s) => s.startsWith("URI:spiffe://"));
    if (uri !== undefined) {
      this.#certNames.set(scope.connection, uri.slice(4));
      return uri.slice(4);
    }
    // A subject mapping can change with the policy, so it is looked up on every call.
    return cert.subject?.CN !== undefined ? this.#policy.subjects.get(`CN=${cert.subject.CN}`) : undefined;
  }
}
