/** The contract suites moved to src/store/contract (`roster/store/contract`); this keeps bench/ importing `spec` from here until it imports that. */
export { spec } from "../src/store/contract/index.js";
