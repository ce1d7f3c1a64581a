import { MemoryStore } from "../src/store/memory-store.js";
import { describeStoreContract, describeStoreFaultContract } from "../src/store/contract/index.js";

describeStoreContract("memory", async (options) => new MemoryStore(options));
describeStoreFaultContract("memory", async (options) => new MemoryStore(options));
