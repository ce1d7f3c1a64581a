import type { ServerConfig } from "../config.js";
import { MemoryStore } from "./memory-store.js";
import { RedisStore } from "./redis-store.js";
import type { Store, StoreOptions } from "./store.js";

/** Opens the store named by `config.store`: "memory", or a Redis URL. */
export async function createStore(config: ServerConfig, hooks: Pick<StoreOptions, "onProtection" | "onStale" | "onResync" | "onMembership"> = {}): Promise<Store> {
  const options: StoreOptions = { limits: config.limits, timing: config.timing, ...hooks };
  if (config.store === "memory") return new MemoryStore(options);
  return RedisStore.connect(config.store, { ...options, prefix: config.redisPrefix });
}
