import { RedisStore } from "../src/store/redis-store.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";
import { describeStoreContract } from "./store-contract.js";

let redis: TestRedis;
let stores = 0;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

// A fresh prefix per store gives each contract test an empty registry without flushing the server.
describeStoreContract("redis", (options) => RedisStore.connect(redis.url, { ...options, prefix: `contract-${++stores}` }));
