import { InstanceStatus, type InstanceSpec } from "../../core/types.js";
import type { Store, StoreOptions } from "../store.js";

/** Makes a fresh, empty store for one test. */
export type StoreFactory = (options: StoreOptions) => Promise<Store>;

/** An instance spec with defaults (service `echo`, id `i-1`, no TTL), overridden by `over`: for tests. */
export function spec(over: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    namespace: "default",
    service: "echo",
    id: "i-1",
    host: "10.0.0.1",
    port: 8080,
    status: InstanceStatus.HEALTHY,
    tags: [],
    metadata: {},
    weight: 1,
    zone: "",
    ttlMs: 0,
    checks: [],
    ...over,
  };
}
