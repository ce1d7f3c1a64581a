import assert from "node:assert/strict";
import { RegistryService } from "../gen/roster/v1/registry_pb.js";
import { resolveConfig } from "../src/config.js";
import { allows, impliedRoles, isAdmin, parsePolicy, type Role } from "../src/server/auth/policy.js";
import { requiredRights } from "../src/server/auth/required-rights.js";
import { parseTokenFile } from "../src/server/auth/token-file.js";
import { Authenticator, tokenHash } from "../src/server/auth/authenticator.js";
import { ConfigError } from "../src/config.js";

describe("Auth policy (issue 13)", () => {
  it("every RPC of RegistryService has a required right, and every row names an RPC", () => {
    const rpcs = RegistryService.methods.map((m) => m.localName).sort();
    assert.deepEqual(Object.keys(requiredRights).sort(), rpcs);
  });

  it("a workload writes only its own service and reads only its own namespace", () => {
    const w: Role[] = [{ role: "workload", namespace: "shop", service: "cart" }];
    assert.equal(allows(w, "write", "shop", "cart"), true);
    assert.equal(allows(w, "write", "shop", "billing"), false);
    assert.equal(allows(w, "write", "bank", "cart"), false);
    assert.equal(allows(w, "read", "shop", "billing"), true);
    assert.equal(allows(w, "read", "shop", undefined), true);
    assert.equal(allows(w, "read", "bank", "cart"), false);
    assert.equal(allows(w, "list", "shop", undefined), false);
  });

  it("a reader reads and lists, an admin does everything, each only in its namespaces; no role, no right", () => {
    const r: Role[] = [{ role: "reader", namespace: "*" }];
    assert.equal(allows(r, "read", "any", "x"), true);
    assert.equal(allows(r, "list", "any", undefined), true);
    assert.equal(allows(r, "write", "any", "x"), false);
    const a: Role[] = [{ role: "admin", namespace: "shop" }];
    assert.equal(allows(a, "write", "shop", "x"), true);
    assert.equal(allows(a, "write", "bank", "x"), false);
    assert.equal(allows([], "read", "shop", "x"), false);
  });

  it("only an admin of the namespace (or of *) may write another principal's instance there", () => {
    assert.equal(isAdmin([{ role: "admin", namespace: "shop" }], "shop"), true);
    assert.equal(isAdmin([{ role: "admin", namespace: "shop" }], "bank"), false);
    assert.equal(isAdmin([{ role: "admin", namespace: "*" }], "bank"), true);
    assert.equal(isAdmin([{ role: "workload", namespace: "shop", service: "cart" }, { role: "reader", namespace: "*" }], "shop"), false);
  });

  it("a SPIFFE ID spiffe://TRUST/ns/NS/svc/SVC speaks for workload(NS, SVC); other names for nothing by themselves", () => {
    assert.deepEqual(impliedRoles("spiffe://acme/ns/shop/svc/cart"), [{ role: "workload", namespace: "shop", service: "cart" }]);
    assert.deepEqual(impliedRoles("spiffe://acme/ns/shop"), []);
    assert.deepEqual(impliedRoles("ops"), []);
  });

  it("parses a policy file and names what is wrong in a bad one", () => {
    const p = parsePolicy(JSON.stringify({ principals: { ops: [{ role: "admin", namespace: "*" }] }, subjects: { "CN=dash": "ops" } }));
    assert.deepEqual(p.principals.get("ops"), [{ role: "admin", namespace: "*" }]);
    assert.equal(p.subjects.get("CN=dash"), "ops");
    assert.throws(() => parsePolicy("{"), /policy file: not JSON/);
    assert.throws(() => parsePolicy(JSON.stringify({ principals: { x: [{ role: "god", namespace: "*" }] } })), /principals\["x"\]\[0\]\.role/);
    assert.throws(() => parsePolicy(JSON.stringify({ principals: { x: [{ role: "workload", namespace: "*", service: "a" }] } })), /one namespace and one service/);
  });

  it("reads a token file of SHA-256 hashes with optional expiry", () => {
    const m = parseTokenFile(JSON.stringify({ tokens: [{ sha256: tokenHash("s3cret"), principal: "cart", expiresAt: "2030-01-01T00:00:00Z" }] }));
    assert.deepEqual(m.get(tokenHash("s3cret")), { principal: "cart", expiresAt: Date.parse("2030-01-01T00:00:00Z") });
    assert.throws(() => parseTokenFile(JSON.stringify({ tokens: [{ sha256: "abc", principal: "x" }] })), /64 lowercase hex/);
  });

  it("refuses auth without TLS unless --allow-insecure-auth true", () => {
    assert.throws(() => resolveConfig({ auth: "tokens", policyFile: "p.json" }), /auth: needs TLS/);
    assert.doesNotThrow(() => resolveConfig({ auth: "tokens", policyFile: "p.json", allowInsecureAuth: "true" }));
    assert.throws(() => resolveConfig({ auth: "mtls", policyFile: "p.json", allowInsecureAuth: "true" }), /tls-client-ca/);
  });

  it("a policy file that cannot be read or parsed stops the start with a message naming the setting", () => {
    const config = resolveConfig({ auth: "tokens", policyFile: "/nonexistent/policy.json", allowInsecureAuth: "true" });
    assert.throws(() => new Authenticator(config), (e) => e instanceof ConfigError && /--policy-file: cannot read/.test(e.message));
  });
});
