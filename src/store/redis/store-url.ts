import type { RedisOptions } from "ioredis";
import { ConfigError } from "../../config.js";

/** The URL with its credentials masked, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@").replace(/(sentinelPassword=)[^&]*/g, "$1***");
}

/**
 * Turns a store URL into ioredis connection options:
 * - `redis://[user:pass@]host[:port][/db]`, `rediss://` the same over TLS;
 * - `redis+sentinel://[user:pass@]host:port[,host:port...]/masterName[?db=N&sentinelUsername=U&sentinelPassword=P]`:
 *   any number of sentinels (IPv6 in brackets, port 26379 by default); the
 *   credentials before `@` are the data nodes', the query's are the sentinels';
 *   `rediss+sentinel://` uses TLS to the sentinels and to the data nodes.
 * The sentinel form is split by hand: `new URL()` rejects a list of hosts.
 */
export function connectionOptions(url: string): RedisOptions {
  const sentinel = /^(rediss?)\+sentinel:\/\/(.*)$/.exec(url);
  if (sentinel !== null) return sentinelOptions(url, sentinel[1] === "rediss", sentinel[2]!);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`store: "${redact(url)}" is not a valid URL`);
  }
  if (u.protocol === "redis:" || u.protocol === "rediss:") {
    const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
    if (!Number.isInteger(db) || db < 0) throw new ConfigError(`store: "${redact(url)}": the database must be a whole number`);
    return {
      host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: u.port === "" ? 6379 : Number(u.port),
      db,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    };
  }
  throw new ConfigError(`store: "${redact(url)}" is not a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL`);
}

function sentinelOptions(url: string, tls: boolean, rest: string): RedisOptions {
  const bad = (why: string) => new ConfigError(`store: "${redact(url)}" ${why}; the form is redis+sentinel://[user:pass@]host:port[,host:port...]/masterName[?sentinelPassword=...]`);
  const q = rest.indexOf("?");
  const [main, query] = q === -1 ? [rest, ""] : [rest.slice(0, q), rest.slice(q + 1)];
  const slash = main.indexOf("/");
  if (slash === -1) throw bad("names no master");
  const authority = main.slice(0, slash);
  const name = decodeURIComponent(main.slice(slash + 1));
  if (name === "" || name.includes("/")) throw bad("names no master");
  const at = authority.lastIndexOf("@");
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const hosts = at === -1 ? authority : authority.slice(at + 1);
  const sentinels = hosts.split(",").map((hp) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(hp);
    if (m === null) throw bad(`has a bad sentinel address "${hp}"`);
    const port = m[3] === undefined ? 26379 : Number(m[3]);
    if (port < 1 || port > 65535) throw bad(`has a bad sentinel port in "${hp}"`);
    return { host: (m[1] ?? m[2])!, port };
  });
  const params = new URLSearchParams(query);
  for (const k of params.keys()) if (!["db", "sentinelUsername", "sentinelPassword"].includes(k)) throw bad(`has an unknown parameter "${k}"`);
  const db = Number(params.get("db") ?? "0");
  if (!Number.isInteger(db) || db < 0) throw bad("has a db that is not a whole number");
  const options: RedisOptions = { sentinels, name, db };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (user !== "") options.username = user;
    if (colon !== -1) options.password = decodeURIComponent(userinfo.slice(colon + 1));
  }
  const sentinelUsername = params.get("sentinelUsername");
  const sentinelPassword = params.get("sentinelPassword");
  if (sentinelUsername !== null) options.sentinelUsername = sentinelUsername;
  if (sentinelPassword !== null) options.sentinelPassword = sentinelPassword;
  if (tls) {
    options.tls = {};
    options.sentinelTLS = {};
    options.enableTLSForSentinelMode = true;
  }
  return options;
}
