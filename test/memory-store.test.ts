import { MemoryStore } from "../src/store/memory-store.js";
import { describeChecksContract, describeStoreContract, describeStoreFaultContract } from "../src/store/contract/index.js";

describeStoreContract("memory", async (options) => new MemoryStore(options));
describeStoreFaultContract("memory", async (options) => new MemoryStore(options));
describeChecksContract("memory", async (options) => new MemoryStore(options));
