import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { createAsyncIterable, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromString, codeToHttpStatus, codeToString, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { conformRefusal } from "../errors.js";
import { encodeGrpcMessage } from "./grpc/grpc-status.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What `connectHandler` serves. */
export interface ConnectHandlerOptions extends ConnectRouterOptions {
  /** Registers the services. */
  routes(router: ConnectRouter): void;
  /** Values every call's context carries (see call-context.ts). */
  contextValues?: (req: NodeRequest) => ContextValues;
}

/** A Node request handler serving a Connect router, and the paths it serves. */
export interface ConnectHandler {
  (req: NodeRequest, res: NodeResponse): void;
  /** True when `path` (without a query) is an RPC the router serves. */
  serves(path: string): boolean;
}

/**
 * Serves a Connect router on Node (gRPC, gRPC-Web and the Connect protocol),
 * as `connectNodeAdapter` does, with one step more: every answer passes
 * through `conformResponse`, so the refusals Connect makes before any
 * interceptor runs (an undecodable unary request, a message over
 * readMaxBytes) reach the client in the same code and words as on the gRPC
 * fast path. Requests for other paths are not taken: callers check `serves`.
 */
export function connectHandler(options: ConnectHandlerOptions): ConnectHandler {
  const router = createConnectRouter(options);
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  const handle = (req: NodeRequest, res: NodeResponse) => {
    const uHandler = paths.get(pathOf(req));
    if (uHandler === undefined) throw new Error(`connectHandler called for ${req.url}, which it does not serve`);
    const uReq = universalRequestFromNodeRequest(req, res as never, undefined, options.contextValues?.(req));
    uHandler(uReq)
      .then(conformResponse)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason: unknown) => {
        // A client that went away is not a failure of the handler.
        if (ConnectError.from(reason).code !== Code.Aborted) console.error(`handler for rpc ${uHandler.method.name} of ${uHandler.service.typeName} failed`, reason);
      });
  };
  return Object.assign(handle, { serves: (path: string) => paths.has(path) });
}

/** The path of a Node request, without its query. */
export function pathOf(req: NodeRequest): string {
  return (req.url ?? "/").split("?", 1)[0]!;
}

/**
 * Rewrites the status of a Connect answer through `conformRefusal`, wherever
 * its protocol carries it: gRPC trailers (or headers of a trailers-only
 * answer), the gRPC-Web trailer frame, the Connect end-stream frame, or the
 * Connect unary error body and its HTTP status. Compressed status frames are
 * left as they are (status frames are far below the compression threshold).
 */
export async function conformResponse(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = res.header?.get("content-type") ?? "";
  const body = res.body;
  if (body === undefined || !(Symbol.asyncIterator in body)) return res;
  if (/^application\/grpc-web/.test(type)) return { ...res, body: mapChunks(body, conformGrpcWebTrailer) };
  if (/^application\/grpc/.test(type)) {
    const trailer = res.trailer;
    return trailer === undefined ? res : { ...res, body: mapChunks(body, (c) => c, () => conformGrpcFields(trailer)) };
  }
  if (/^application\/connect\+/.test(type)) return { ...res, body: mapChunks(body, conformConnectEndStream) };
  if (res.status !== 200 && type === "application/json" && !res.header?.has("content-encoding")) return conformConnectUnaryError(res, body);
  return res;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, map: (chunk: Uint8Array) => Uint8Array, atEnd?: () => void): AsyncIterable<Uint8Array> {
  for await (const chunk of body) yield map(chunk);
  atEnd?.();
}

/** Rewrites grpc-status and grpc-message in place. */
function conformGrpcFields(fields: Headers): void {
  const status = fields.get("grpc-status");
  if (status === null || status === "0") return;
  let message: string;
  try {
    message = decodeURIComponent(fields.get("grpc-message") ?? "");
  } catch {
    return;
  }
  const c = conformRefusal(Number(status) as Code, message);
  fields.set("grpc-status", String(c.code));
  if (c.message !== "") fields.set("grpc-message", encodeGrpcMessage(c.message));
}

function conformGrpcWebTrailer(chunk: Uint8Array): Uint8Array {
  if (chunk[0] !== trailerFlag) return chunk;
  const trailer = trailerParse(chunk.subarray(5));
  conformGrpcFields(trailer);
  return envelope(trailerFlag, trailerSerialize(trailer));
}

function conformConnectEndStream(chunk: Uint8Array): Uint8Array {
  if (chunk[0] !== endStreamFlag) return chunk;
  const end = JSON.parse(new TextDecoder().decode(chunk.subarray(5))) as { error?: { code?: string; message?: string } };
  if (!conformConnectErrorJson(end.error)) return chunk;
  return envelope(endStreamFlag, new TextEncoder().encode(JSON.stringify(end)));
}

/** Rewrites a Connect error object in place; true when it changed. */
function conformConnectErrorJson(error: { code?: string; message?: string } | undefined): boolean {
  const code = error?.code === undefined ? undefined : codeFromString(error.code);
  if (error === undefined || code === undefined) return false;
  const c = conformRefusal(code, error.message ?? "");
  if (c.code === code && c.message === (error.message ?? "")) return false;
  error.code = codeToString(c.code);
  error.message = c.message;
  return true;
}

async function conformConnectUnaryError(res: UniversalServerResponse, body: AsyncIterable<Uint8Array>): Promise<UniversalServerResponse> {
  // Connect made this body in one piece; it is read whole because the HTTP status follows the code.
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  let error: { code?: string; message?: string };
  try {
    error = JSON.parse(bytes.toString("utf8")) as typeof error;
  } catch {
    return { ...res, body: createAsyncIterable([bytes]) };
  }
  if (!conformConnectErrorJson(error)) return { ...res, body: createAsyncIterable([bytes]) };
  const out = new TextEncoder().encode(JSON.stringify(error));
  res.header?.set("content-length", String(out.byteLength));
  return { ...res, status: codeToHttpStatus(codeFromString(error.code!)!), body: createAsyncIterable([out]) };
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.byteLength);
  out.set(data, 5);
  return out;
}
