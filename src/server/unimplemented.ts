import type * as http from "node:http";
import type * as http2 from "node:http2";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { toConnectError, unimplemented } from "../errors.js";
import { statusFields } from "./grpc/grpc-status.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Answers a call to an RPC nobody serves (`/package.Service/Method`) with
 * UNIMPLEMENTED in the caller's own protocol, told by its content type: a
 * trailers-only gRPC answer, a gRPC-Web answer with the status in its
 * headers, or a Connect error (HTTP 404, JSON body). Returns false, and
 * answers nothing, for a request in none of these protocols.
 */
export function answerUnimplemented(req: NodeRequest, res: NodeResponse, path: string, servedServices: ReadonlySet<string>): boolean {
  const type = String(req.headers["content-type"] ?? "");
  const protocol = /^application\/grpc-web/.test(type) ? "grpc-web" : /^application\/grpc/.test(type) ? "grpc" : /^application\/(proto|json|connect\+)/.test(type) ? "connect" : undefined;
  const rpc = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (protocol === undefined || rpc === null) return false;
  const [, service, method] = rpc as unknown as [string, string, string];
  const error = toConnectError(unimplemented(service, method, servedServices.has(service)));
  // The request body is not wanted; let it flow so the stream can end.
  req.resume();
  if (protocol === "connect") {
    const body = Buffer.from(errorToJsonBytes(error, {}));
    res.writeHead(codeToHttpStatus(error.code), { "content-type": "application/json", "content-length": String(body.length) });
    res.end(body);
    return true;
  }
  const headers = { "content-type": protocol === "grpc" ? "application/grpc" : "application/grpc-web+proto", ...statusFields(error) };
  if ("stream" in req && protocol === "grpc") {
    // Trailers-only: the status on the one HEADERS frame that ends the stream.
    req.stream.respond({ ":status": 200, ...headers }, { endStream: true });
    return true;
  }
  res.writeHead(200, headers);
  res.end();
  return true;
}
