import { MemoryStore } from "../src/store/memory-store.js";
import { describeStoreContract } from "./store-contract.js";
import { describeStoreFaultContract } from "./store-contract-faults.js";

describeStoreContract("memory", async (options) => new MemoryStore(options));
describeStoreFaultContract("memory", async (options) => new MemoryStore(options));
