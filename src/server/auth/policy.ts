import type { Right } from "./required-rights.js";

/** A grant: `workload` of one service, or `reader`/`admin` of a namespace (`*` for all). */
export type Role =
  | { readonly role: "workload"; readonly namespace: string; readonly service: string }
  | { readonly role: "reader"; readonly namespace: string }
  | { readonly role: "admin"; readonly namespace: string };

/** The parsed policy file. */
export interface Policy {
  /** Roles by principal name (a SPIFFE ID, a JWT `sub`, or an opaque token's principal). */
  readonly principals: ReadonlyMap<string, readonly Role[]>;
  /** Principal names by client-certificate subject, written `CN=<common name>`. */
  readonly subjects: ReadonlyMap<string, string>;
}

/** An empty policy: everybody is denied everything. */
export const emptyPolicy: Policy = { principals: new Map(), subjects: new Map() };

function fail(problem: string): never {
  throw new Error(`policy file: ${problem}`);
}

function parseRole(raw: unknown, where: string): Role {
  if (typeof raw !== "object" || raw === null) fail(`${where} is not an object`);
  const r = raw as Record<string, unknown>;
  const ns = r["namespace"];
  if (typeof ns !== "string" || ns === "") fail(`${where}.namespace must be a non-empty string`);
  switch (r["role"]) {
    case "workload": {
      const svc = r["service"];
      if (ns === "*" || typeof svc !== "string" || svc === "" || svc === "*") fail(`${where}: a workload names one namespace and one service`);
      return { role: "workload", namespace: ns, service: svc };
    }
    case "reader":
    case "admin":
      return { role: r["role"], namespace: ns };
    default:
      return fail(`${where}.role must be workload, reader or admin`);
  }
}

/**
 * Parses a policy file:
 *
 * ```json
 * { "principals": { "spiffe://acme/ns/shop/svc/cart": [{ "role": "workload", "namespace": "shop", "service": "cart" }],
 *                   "ops": [{ "role": "admin", "namespace": "*" }] },
 *   "subjects": { "CN=dashboard": "dash" } }
 * ```
 */
export function parsePolicy(text: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null) fail("must be a JSON object");
  const d = doc as Record<string, unknown>;
  const principals = new Map<string, Role[]>();
  for (const [name, roles] of Object.entries((d["principals"] ?? {}) as Record<string, unknown>)) {
    if (!Array.isArray(roles)) fail(`principals["${name}"] must be a list of roles`);
    principals.set(name, roles.map((r, i) => parseRole(r, `principals["${name}"][${i}]`)));
  }
  const subjects = new Map<string, string>();
  for (const [subject, name] of Object.entries((d["subjects"] ?? {}) as Record<string, unknown>)) {
    if (typeof name !== "string" || name === "") fail(`subjects["${subject}"] must name a principal`);
    subjects.set(subject, name);
  }
  return { principals, subjects };
}

const spiffeWorkload = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/svc\/([^/]+)$/;

/** The workload role a SPIFFE ID of the form `spiffe://TRUST/ns/NS/svc/SVC` speaks for, if it has that form. */
export function impliedRoles(principal: string): Role[] {
  const m = spiffeWorkload.exec(principal);
  return m ? [{ role: "workload", namespace: m[1]!, service: m[2]! }] : [];
}

function covers(namespace: string, grant: string): boolean {
  return grant === "*" || grant === namespace;
}

/** True when one of `roles` is admin of `namespace`: it may write any principal's instance there. */
export function isAdmin(roles: readonly Role[], namespace: string): boolean {
  return roles.some((r) => r.role === "admin" && covers(namespace, r.namespace));
}

/**
 * True when one of `roles` grants `right` on `namespace` (and `service`;
 * undefined for a whole-namespace watch). A workload writes only its own
 * service and reads its own namespace; a reader reads and lists; an admin may
 * do everything in its namespaces. Anything not granted is denied.
 */
export function allows(roles: readonly Role[], right: Right, namespace: string, service: string | undefined): boolean {
  if (right === "status") return true;
  return roles.some((r) => {
    if (!covers(namespace, r.namespace)) return false;
    switch (r.role) {
      case "admin":
        return true;
      case "reader":
        return right === "read" || right === "list";
      case "workload":
        return right === "read" || (right === "write" && service === r.service);
    }
  });
}
