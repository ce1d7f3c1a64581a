import type { RegistryHandlers } from "../registry-service.js";

/**
 * What a call needs: `write` an instance of (namespace, service), `read`
 * (Resolve, Watch) a service or a whole namespace, `list` a namespace's
 * services, or `status` (any authenticated principal).
 */
export type Right = "write" | "read" | "list" | "status";

/**
 * The right each RegistryService method needs. Typed against the handler
 * object and checked by a test against the generated service descriptor, so
 * an RPC added to the proto cannot ship without a row here.
 */
export const requiredRights: { readonly [M in keyof RegistryHandlers]: Right } = {
  register: "write",
  heartbeat: "write",
  deregister: "write",
  resolve: "read",
  watch: "read",
  listServices: "list",
  getStatus: "status",
};
