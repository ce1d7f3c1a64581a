import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigError, defaultConfig, loadConfig, settings } from "../src/config.js";

describe("Configuration", () => {
  it("reads flags over environment variables over defaults", () => {
    const c = loadConfig({ port: "9000", "max-tags": "5" }, { ROSTER_PORT: "8000", ROSTER_MAX_WATCHERS: "7", ROSTER_LOG_LEVEL: "warn" });
    assert.equal(c.port, 9000);
    assert.equal(c.limits.maxTags, 5);
    assert.equal(c.limits.maxWatchers, 7);
    assert.equal(c.logLevel, "warn");
    assert.equal(c.limits.maxMetadataBytes, defaultConfig.limits.maxMetadataBytes);
  });

  it("refuses a bad value with a message naming the setting", () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ port: "x" }, /--port/],
      [{ port: "70000" }, /port/],
      [{ "max-tags": "0" }, /max-tags/],
      [{ "max-instance-id-length": "200" }, /max-instance-id-length/],
      [{ "sweep-interval-ms": "5000" }, /sweep-interval-ms/],
      [{ "expiry-protection-threshold": "1.5" }, /expiry-protection-threshold/],
      [{ store: "postgres://x" }, /store/],
      [{ "log-level": "loud" }, /log-level/],
    ];
    for (const [flags, message] of bad) assert.throws(() => loadConfig(flags), (e: unknown) => e instanceof ConfigError && message.test(e.message));
  });

  it("documents every setting and its environment variable in the README", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const s of settings) {
      assert.ok(readme.includes(`\`--${s.flag}\``), `README lacks --${s.flag}`);
      assert.ok(readme.includes(`\`${s.env}\``), `README lacks ${s.env}`);
    }
  });
});
