import { strict as assert } from "node:assert";
import { ConfigError } from "../../src/config.js";
import { clusterTarget, connectionOptions, redact } from "../../src/store/redis/store-url.js";

describe("Redis store URLs (README: Running several nodes)", () => {
  it("reads redis:// and rediss:// with credentials, port and database", () => {
    assert.deepEqual(connectionOptions("redis://127.0.0.1:6380/2"), { host: "127.0.0.1", port: 6380, db: 2 });
    assert.deepEqual(connectionOptions("rediss://u:p%40ss@redis.example:6390"), { host: "redis.example", port: 6390, db: 0, username: "u", password: "p@ss", tls: {} });
    assert.deepEqual(connectionOptions("redis://[::1]"), { host: "::1", port: 6379, db: 0 });
  });

  it("reads several sentinels, without new URL(), with default ports and IPv6", () => {
    assert.deepEqual(connectionOptions("redis+sentinel://127.0.0.1:26390,127.0.0.1:26391,[::1]/mymaster"), {
      sentinels: [
        { host: "127.0.0.1", port: 26390 },
        { host: "127.0.0.1", port: 26391 },
        { host: "::1", port: 26379 },
      ],
      name: "mymaster",
      db: 0,
    });
  });

  it("keeps data-node credentials apart from the sentinels' and reads the database", () => {
    const o = connectionOptions("redis+sentinel://app:s%3Acret@h1:1,h2:2/reg?db=3&sentinelUsername=sen&sentinelPassword=x%26y");
    assert.deepEqual(o, { sentinels: [{ host: "h1", port: 1 }, { host: "h2", port: 2 }], name: "reg", db: 3, username: "app", password: "s:cret", sentinelUsername: "sen", sentinelPassword: "x&y" });
    assert.deepEqual(connectionOptions("redis+sentinel://:only@h:1/m"), { sentinels: [{ host: "h", port: 1 }], name: "m", db: 0, password: "only" });
  });

  it("rediss+sentinel:// uses TLS to the sentinels and to the data nodes", () => {
    const o = connectionOptions("rediss+sentinel://h1:26379,h2:26379/m");
    assert.deepEqual({ tls: o.tls, sentinelTLS: o.sentinelTLS, enableTLSForSentinelMode: o.enableTLSForSentinelMode }, { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true });
  });

  it("reads redis+cluster:// seed nodes, without new URL(), with credentials, default port, IPv6 and TLS", () => {
    assert.deepEqual(clusterTarget("redis+cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]"), {
      nodes: [
        { host: "127.0.0.1", port: 7000 },
        { host: "127.0.0.1", port: 7001 },
        { host: "::1", port: 6379 },
      ],
      options: {},
    });
    assert.deepEqual(clusterTarget("rediss+cluster://app:p%40ss@h1:1,h2:2/"), { nodes: [{ host: "h1", port: 1 }, { host: "h2", port: 2 }], options: { username: "app", password: "p@ss", tls: {} } });
    assert.equal(clusterTarget("redis://h:1"), undefined, "other URLs are connectionOptions'");
    assert.equal(clusterTarget("redis+sentinel://h:1/m"), undefined);
  });

  it("refuses a cluster URL with a path, a query or a bad node, credentials masked", () => {
    for (const bad of ["redis+cluster://h:1/2", "redis+cluster://h:1?db=1", "redis+cluster://h:1,,h:2", "redis+cluster://h:0", "redis+cluster://", "redis+cluster://h:x"]) {
      assert.throws(() => clusterTarget(bad), (e) => e instanceof ConfigError, bad);
    }
    assert.throws(() => clusterTarget("redis+cluster://u:secret@h:1/0"), (e: Error) => !e.message.includes("secret") && /redis\+cluster:\/\/\[user:pass@\]host:port/.test(e.message));
  });

  it("refuses malformed URLs with a ConfigError naming the form, credentials masked", () => {
    for (const bad of ["redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel://h:1,,h:2/m", "redis+sentinel://h:99999/m", "redis+sentinel://h:1/m?password=x", "redis+sentinel://h:1/m?db=x", "memcached://h", "redis://h/x"]) {
      assert.throws(() => connectionOptions(bad), (e) => e instanceof ConfigError, bad);
    }
    assert.throws(() => connectionOptions("redis+sentinel://u:secret@h:1"), (e: Error) => !e.message.includes("secret") && /redis\+sentinel:\/\/\[user:pass@\]host:port/.test(e.message));
    assert.equal(redact("redis+sentinel://u:p@h:1/m?sentinelPassword=q"), "redis+sentinel://***@h:1/m?sentinelPassword=***");
  });
});
