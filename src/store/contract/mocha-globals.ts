/** What `this` is inside a mocha `describe` callback, as far as the contract suites use it. */
export interface SuiteContext {
  timeout(ms: number): void;
}

/** The part of mocha's BDD interface the contract suites use. */
export interface MochaGlobals {
  describe(title: string, fn: (this: SuiteContext) => void): void;
  it(title: string, fn: () => Promise<void>): void;
  afterEach(fn: () => unknown): void;
}

/**
 * Mocha's `describe`, `it` and `afterEach`, read from the globals mocha sets
 * in a test file. Read at call time, not imported: mocha is an optional peer
 * dependency, and importing `roster/store/contract` outside mocha must not
 * fail (only calling a suite does, with a message that says why).
 */
export function mochaGlobals(): MochaGlobals {
  const g = globalThis as unknown as Partial<MochaGlobals>;
  if (typeof g.describe !== "function" || typeof g.it !== "function" || typeof g.afterEach !== "function") {
    throw new Error("roster/store/contract defines mocha suites: call it from a test file that mocha runs (BDD interface)");
  }
  return g as MochaGlobals;
}
