/**
 * The Store contract suites, for anyone writing a Store: mocha suites that
 * every store shipped with Roster passes unchanged (mocha is an optional peer
 * dependency; these read its globals when called).
 *
 * @example
 * import { describeStoreContract, describeStoreFaultContract } from "roster/store/contract";
 * describeStoreContract("mine", async (options) => new MyStore(options));
 * describeStoreFaultContract("mine", async (options) => new MyStore(options));
 * describeChecksContract("mine", async (options) => new MyStore(options));
 */
export { describeStoreContract } from "./describe-store-contract.js";
export { describeStoreFaultContract } from "./describe-store-fault-contract.js";
export { describeChecksContract, httpCheck } from "./describe-checks-contract.js";
export { spec } from "./instance-spec.js";
export type { StoreFactory } from "./instance-spec.js";
