import type { RedisOptions } from "ioredis";
import { ConfigError } from "../../config.js";

/** The URL with its credentials masked, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@").replace(/(sentinelPassword=)[^&]*/g, "$1***");
}

/** A Redis Cluster to connect to: seed nodes and the options every node connection takes. */
export interface ClusterTarget {
  /** Any nodes of the cluster; ioredis learns the rest (and the slot map) from the first that answers. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** Credentials and TLS, the same for every node. */
  readonly options: RedisOptions;
}

/**
 * Reads `redis+cluster://[user:pass@]host:port[,host:port...]` (port 6379 by
 * default, IPv6 in brackets), `rediss+cluster://` the same over TLS. Several
 * seed nodes let a node start while any one of them is down. Returns
 * undefined for any other URL (see connectionOptions). A cluster has only
 * database 0, so the URL takes no path and no query.
 */
export function clusterTarget(url: string): ClusterTarget | undefined {
  const m = /^(rediss?)\+cluster:\/\/(.*)$/.exec(url);
  if (m === null) return undefined;
  const bad = (why: string) => new ConfigError(`store: "${redact(url)}" ${why}; the form is redis+cluster://[user:pass@]host:port[,host:port...]`);
  const rest = m[2]!.replace(/\/$/, "");
  if (/[/?#]/.test(rest)) throw bad("has a path or query (a cluster has only database 0)");
  const { userinfo, hosts } = splitAuthority(rest);
  const options: RedisOptions = credentials(userinfo);
  if (m[1] === "rediss") options.tls = {};
  return { nodes: hostList(hosts, 6379, "node", bad), options };
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
  throw new ConfigError(`store: "${redact(url)}" is not a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL`);
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
  const { userinfo, hosts } = splitAuthority(authority);
  const sentinels = hostList(hosts, 26379, "sentinel", bad);
  const params = new URLSearchParams(query);
  for (const k of params.keys()) if (!["db", "sentinelUsername", "sentinelPassword"].includes(k)) throw bad(`has an unknown parameter "${k}"`);
  const db = Number(params.get("db") ?? "0");
  if (!Number.isInteger(db) || db < 0) throw bad("has a db that is not a whole number");
  const options: RedisOptions = { sentinels, name, db, ...credentials(userinfo) };
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

/** Splits `[userinfo@]hosts` at the last `@` (a password may contain an encoded one). */
function splitAuthority(authority: string): { userinfo: string | undefined; hosts: string } {
  const at = authority.lastIndexOf("@");
  return at === -1 ? { userinfo: undefined, hosts: authority } : { userinfo: authority.slice(0, at), hosts: authority.slice(at + 1) };
}

/** `host[:port],...` with IPv6 in brackets, split by hand: `new URL()` rejects a list of hosts. */
function hostList(hosts: string, defaultPort: number, what: string, bad: (why: string) => ConfigError): { host: string; port: number }[] {
  return hosts.split(",").map((hp) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(hp);
    if (m === null) throw bad(`has a bad ${what} address "${hp}"`);
    const port = m[3] === undefined ? defaultPort : Number(m[3]);
    if (port < 1 || port > 65535) throw bad(`has a bad ${what} port in "${hp}"`);
    return { host: (m[1] ?? m[2])!, port };
  });
}

/** `user:pass` (both percent-encoded, either may be empty) as ioredis options. */
function credentials(userinfo: string | undefined): RedisOptions {
  const options: RedisOptions = {};
  if (userinfo === undefined) return options;
  const colon = userinfo.indexOf(":");
  const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
  if (user !== "") options.username = user;
  if (colon !== -1) options.password = decodeURIComponent(userinfo.slice(colon + 1));
  return options;
}
