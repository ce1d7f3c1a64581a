import { strict as assert } from "node:assert";
import { resolveConfig } from "../../src/config.js";
import { alignHealth, effectiveStatus, pendingState } from "../../src/core/health.js";
import { CheckStatus, InstanceStatus, type CheckState } from "../../src/core/types.js";
import { validateChecks, type CheckFields } from "../../src/core/validate-checks.js";
import { RosterError } from "../../src/errors.js";

const state = (name: string, status: CheckStatus): CheckState => ({ name, status, output: "", checkedAt: 1, since: 1 });
const limits = resolveConfig({}).limits;
const http = (over: Partial<CheckFields> = {}): CheckFields => ({
  name: "",
  kind: { case: "http", value: { path: "", tls: false, tlsSkipVerify: false, expectedStatuses: [], headers: {} } },
  failuresBeforeUnhealthy: 0,
  successesBeforeHealthy: 0,
  port: 0,
  ...over,
});

describe("Effective status from the reported status and the checks (SEMANTICS 6.3)", () => {
  it("6.3 an instance's own STOPPING wins over every check", () => {
    assert.equal(effectiveStatus(InstanceStatus.STOPPING, [state("a", CheckStatus.FAILING)]), InstanceStatus.STOPPING);
  });

  it("6.3 a FAILING check wins over a self-reported HEALTHY, STARTING or UNKNOWN", () => {
    for (const reported of [InstanceStatus.HEALTHY, InstanceStatus.STARTING, InstanceStatus.UNKNOWN]) {
      assert.equal(effectiveStatus(reported, [state("a", CheckStatus.PASSING), state("b", CheckStatus.FAILING)]), InstanceStatus.UNHEALTHY);
    }
  });

  it("6.3 PENDING and PASSING checks leave the reported status as it is, never making healthy what the instance says is not", () => {
    assert.equal(effectiveStatus(InstanceStatus.HEALTHY, [state("a", CheckStatus.PENDING)]), InstanceStatus.HEALTHY);
    assert.equal(effectiveStatus(InstanceStatus.STARTING, [state("a", CheckStatus.PASSING)]), InstanceStatus.STARTING);
    assert.equal(effectiveStatus(InstanceStatus.UNHEALTHY, [state("a", CheckStatus.PASSING)]), InstanceStatus.UNHEALTHY);
  });

  it("6.2 a re-register keeps what is known about the checks it keeps, starts new ones PENDING and drops the rest", () => {
    const [a, b] = validateChecks([http({ name: "a" }), http({ name: "b" })], 80, limits, { anyPort: false });
    const [c] = validateChecks([http({ name: "c" })], 80, limits, { anyPort: false });
    const prev = [state("a", CheckStatus.FAILING), state("b", CheckStatus.PASSING)];
    assert.equal(alignHealth([a!, b!], prev, 5), prev, "same checks: the same list");
    assert.deepEqual(alignHealth([b!, c!], prev, 5), [prev[1], pendingState("c", 5)]);
  });
});

describe("Validation of active checks (SEMANTICS 6.2)", () => {
  const refused = (checks: CheckFields[], code: string, field: RegExp, anyPort = false) =>
    assert.throws(() => validateChecks(checks, 80, limits, { anyPort }), (e: unknown) => e instanceof RosterError && e.kind === code && field.test(e.message));

  it("6.2 fills in the defaults: 10 s interval, 5 s timeout, 3 failures, 2 successes, GET /health, names from the kind", () => {
    const [a, b] = validateChecks([http(), { ...http(), kind: { case: "tcp", value: {} } }], 80, limits, { anyPort: false });
    assert.deepEqual(
      { ...a },
      { name: "http", kind: "http", port: 0, intervalMs: 10_000, timeoutMs: 5_000, failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2, initialDelayMs: 0, deregisterAfterMs: 0, http: { path: "/health", tls: false, tlsSkipVerify: false, expectedStatuses: [], headers: {} } },
    );
    assert.equal(b!.name, "tcp");
    assert.deepEqual(validateChecks([http(), http()], 80, limits, { anyPort: false }).map((c) => c.name), ["http-0", "http-1"]);
  });

  it("6.2 refuses an interval below min-check-interval-ms, a timeout above the interval and a repeated name with INVALID_ARGUMENT", () => {
    refused([http({ interval: { seconds: 0n, nanos: 500_000_000 } })], "invalid_argument", /checks\[0\]\.interval/);
    refused([http({ interval: { seconds: 2n, nanos: 0 }, timeout: { seconds: 3n, nanos: 0 } })], "invalid_argument", /checks\[0\]\.timeout/);
    refused([http({ name: "x" }), http({ name: "x" })], "invalid_argument", /checks\[1\]\.name/);
    refused([{ ...http(), kind: { case: undefined } }], "invalid_argument", /checks\[0\]\.kind/);
  });

  it("6.2 refuses more than max-checks-per-instance checks with RESOURCE_EXHAUSTED", () => {
    refused(Array.from({ length: limits.maxChecksPerInstance + 1 }, (_, i) => http({ name: `c${i}` })), "resource_exhausted", /max-checks-per-instance/);
  });

  it("6.2 probes no port but the instance's own unless check-any-port is set", () => {
    refused([http({ port: 9090 })], "invalid_argument", /checks\[0\]\.port.*check-any-port/);
    assert.equal(validateChecks([http({ port: 9090 })], 80, limits, { anyPort: true })[0]!.port, 9090);
    assert.equal(validateChecks([http({ port: 80 })], 80, limits, { anyPort: false })[0]!.port, 0, "the instance's own port is stored as 0");
  });
});
