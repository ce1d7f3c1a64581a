import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";

/** The registry a client command talks to when neither flag nor environment names one. */
export const defaultRegistry = "http://127.0.0.1:7420";

/** Deadline of every unary call, so an unresponsive registry fails instead of hanging. */
export const callTimeoutMs = 10_000;

/** `127.0.0.1:7420` or `http://127.0.0.1:7420`: a scheme is optional. */
export function registryUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = flag ?? env.ROSTER_REGISTRY ?? defaultRegistry;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
}

/**
 * Runs `fn` with a gRPC client for the registry at `url` and closes the
 * HTTP/2 connection afterwards, so an in-process caller (a test) leaves
 * nothing open.
 */
export async function withClient<T>(url: string, fn: (client: Client<typeof RegistryService>) => Promise<T>): Promise<T> {
  const sessionManager = new Http2SessionManager(url);
  try {
    return await fn(createClient(RegistryService, createGrpcTransport({ baseUrl: url, sessionManager })));
  } finally {
    sessionManager.abort();
  }
}

/** NOT_FOUND, RESOURCE_EXHAUSTED, ...: the canonical gRPC name of a code. */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** `error: NOT_FOUND: instance default/user/x not found`: how a refused call is reported. */
export function rpcErrorLine(e: ConnectError): string {
  return `error: ${grpcCodeName(e.code)}: ${e.rawMessage}\n`;
}
