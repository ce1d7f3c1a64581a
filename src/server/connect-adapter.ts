import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import {
  createAsyncIterable,
  pipe,
  transformJoinEnvelopes,
  transformSplitEnvelope,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { codeFromString, codeToHttpStatus, codeToString, endStreamFlag, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { conformRefusal, toConnectError } from "../errors.js";
import { checkJsonRequest } from "./json-request.js";
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
  /** The full names of the services it serves. */
  readonly services: ReadonlySet<string>;
  /** The services it serves. */
  readonly descriptors: readonly DescService[];
}

/**
 * Serves a Connect router on Node (gRPC, gRPC-Web and the Connect protocol),
 * as `connectNodeAdapter` does, with one step more: every answer passes
 * through `conformResponse`, so the refusals Connect makes before any
 * interceptor runs (an undecodable unary request, a message over
 * readMaxBytes) reach the client in the same code and words as on the gRPC
 * fast path; and every JSON request passes through `checkJsonRequest` (unknown
 * fields refused, enum names with or without their prefix, durations checked,
 * each refusal naming the field). Requests for other paths are not taken:
 * callers check `serves`.
 */
export function connectHandler(options: ConnectHandlerOptions): ConnectHandler {
  const router = createConnectRouter(options);
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  const maxBytes = options.readMaxBytes ?? 0xffffffff;
  const handle = (req: NodeRequest, res: NodeResponse) => {
    const uHandler = paths.get(pathOf(req));
    if (uHandler === undefined) throw new Error(`connectHandler called for ${req.url}, which it does not serve`);
    const uReq = universalRequestFromNodeRequest(req, res as never, undefined, options.contextValues?.(req));
    let answer: Promise<UniversalServerResponse>;
    try {
      answer = uHandler(checkJsonBody(uReq, uHandler.method.input, maxBytes));
    } catch (e) {
      answer = Promise.resolve(connectErrorResponse(ConnectError.from(e)));
    }
    answer
      .then(conformResponse)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason: unknown) => {
        // A client that went away is not a failure of the handler.
        if (ConnectError.from(reason).code !== Code.Aborted) console.error(`handler for rpc ${uHandler.method.name} of ${uHandler.service.typeName} failed`, reason);
      });
  };
  const descriptors = [...new Set(router.handlers.map((h) => h.service))];
  const services = new Set(descriptors.map((d) => d.typeName));
  return Object.assign(handle, { serves: (path: string) => paths.has(path), services, descriptors });
}

/** The path of a Node request, without its query. */
export function pathOf(req: NodeRequest): string {
  return (req.url ?? "/").split("?", 1)[0]!;
}

/** A Connect unary error answer. */
function connectErrorResponse(error: ConnectError): UniversalServerResponse {
  const body = errorToJsonBytes(error, {});
  return { status: codeToHttpStatus(error.code), header: new Headers({ "content-type": "application/json", "content-length": String(body.byteLength) }), body: createAsyncIterable([body]) };
}

/** The JSON text of one request message, checked and normalised by `checkJsonRequest`; a ConnectError when refused. */
function checkedJson(desc: DescMessage, bytes: Uint8Array): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return bytes; // not JSON: Connect refuses it in its own words
  }
  try {
    return new TextEncoder().encode(JSON.stringify(checkJsonRequest(desc, json)));
  } catch (e) {
    throw toConnectError(e);
  }
}

/**
 * A Connect JSON request whose message(s) pass through `checkJsonRequest`
 * before Connect decodes them: a unary POST body (identity encoding), each
 * message of a JSON stream, or the `message` of a GET. A refusal is thrown
 * from the body, where Connect reads it, so it reaches the client in the
 * call's protocol. Compressed JSON is left to Connect as it is.
 */
function checkJsonBody(req: UniversalServerRequest, desc: DescMessage, maxBytes: number): UniversalServerRequest {
  const type = req.header.get("content-type") ?? "";
  const body = req.body;
  if (req.method === "GET") {
    const url = new URL(req.url);
    const q = url.searchParams;
    const message = q.get("message");
    if (q.get("encoding") !== "json" || message === null || q.has("compression") || q.get("base64") === "1") return req;
    // A refusal here is thrown to the caller, which answers it: Connect reads a GET's message from the URL, not a body.
    q.set("message", new TextDecoder().decode(checkedJson(desc, new TextEncoder().encode(message))));
    return { ...req, url: url.toString() };
  }
  if (typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return req;
  const bytes = body as AsyncIterable<Uint8Array>;
  if (/^application\/json(;|$)/.test(type) && !req.header.has("content-encoding")) {
    // The checked text may differ in length from what the client sent.
    req.header.delete("content-length");
    return { ...req, body: checkedUnary(bytes, desc, maxBytes) };
  }
  if (/^application\/connect\+json(;|$)/.test(type) && !req.header.has("connect-content-encoding")) {
    const checked = pipe(
      bytes,
      transformSplitEnvelope(maxBytes),
      async function* (envelopes) {
        for await (const env of envelopes) yield env.flags === 0 ? { flags: 0, data: checkedJson(desc, env.data) } : env;
      },
      transformJoinEnvelopes(),
    );
    return { ...req, body: checked };
  }
  return req;
}

async function* checkedUnary(body: AsyncIterable<Uint8Array>, desc: DescMessage, maxBytes: number): AsyncIterable<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of body) {
    chunks.push(c);
    size += c.byteLength;
    if (size > maxBytes) {
      // Over the limit: pass it on as it is, and Connect refuses it.
      yield* chunks;
      yield* body;
      return;
    }
  }
  yield checkedJson(desc, Buffer.concat(chunks));
}

/**
 * Rewrites the status of a Connect answer through `conformRefusal`, wherever
 * its protocol carries it: gRPC trailers (Connect's gRPC handler puts the
 * status there even when it answers with no message, so this is the one place
 * a gRPC status from Connect is rewritten), the gRPC-Web trailer frame, the
 * Connect end-stream frame, or the Connect unary error body and its HTTP status. Compressed status frames are
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
