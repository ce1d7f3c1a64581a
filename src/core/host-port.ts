/**
 * `host:port` for a host and a port, with an IPv6 literal in brackets
 * (`[::1]:7420`), as URLs and gRPC targets want it.
 */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}
