import type * as http from "node:http";
import type * as http2 from "node:http2";
import { fromJson, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { ListServicesRequestSchema, ListServicesResponseSchema, ResolveRequestSchema, ResolveResponseSchema } from "../../../gen/roster/v1/registry_pb.js";
import { invalidArgument, RosterError, toConnectError } from "../../errors.js";
import { connectionOf, type CallContext } from "../call-context.js";
import { checkJsonRequest } from "../json-request.js";
import type { RegistryHandlers } from "../registry-service.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

// The query parameters of the instance routes, and the ResolveRequest field each sets.
const resolveParams: Record<string, string> = { namespace: "namespace", tag: "filter.tags", meta: "filter.metadata", zone: "filter.zone", all_statuses: "allStatuses", prefer_zone: "preferZone", strategy: "strategy" };

/**
 * The REST/JSON surface, for people and scripts that speak neither gRPC nor
 * Connect; served on both listeners, answering in the proto3 JSON form
 * (every field present) that Connect JSON uses:
 * - `GET /v1/services[?namespace=NS]`: ListServices;
 * - `GET /v1/services/{name}[?namespace=&tag=&meta=k=v&zone=&all_statuses=true]`:
 *   Resolve's list (tag and meta repeat; every filter must hold);
 * - `GET /v1/services/{name}/pick?strategy=round_robin|random|weighted|least_loaded[&prefer_zone=...]`:
 *   one instance, as `{"instance": ..., "revision", "stale"}`.
 * A refusal is `{"code", "message"}` with the HTTP status Connect gives that
 * code (400 invalid_argument, 404 not_found, 503 unavailable, ...); an unknown
 * query parameter is refused, naming it. Returns false for any other path.
 */
export function serveRest(req: NodeRequest, res: NodeResponse, path: string, handlers: RegistryHandlers): boolean {
  const m = /^\/v1\/services(?:\/([^/]+)(\/pick)?)?\/?$/.exec(path);
  if (m === null) return false;
  if (req.method !== "GET") {
    send(res, 405, { code: "unimplemented", message: `${req.method} ${path}: the REST paths are read-only (GET); write through gRPC, gRPC-Web or Connect` });
    return true;
  }
  const [, rawName, pick] = m;
  const query = new URL(req.url ?? "/", "http://x").searchParams;
  const call: CallContext = { signal: new AbortController().signal, connection: connectionOf(req), end: () => {} };
  void (async () => {
    try {
      if (rawName === undefined) {
        const json = paramsToJson(query, { namespace: "namespace" });
        const out = await handlers.listServices(decode(ListServicesRequestSchema, json), call);
        send(res, 200, toJson(ListServicesResponseSchema, out, { alwaysEmitImplicit: true }));
        return;
      }
      const json = paramsToJson(query, resolveParams);
      json.service = decodeURIComponent(rawName);
      if (pick !== undefined && json.strategy === undefined) throw invalidArgument("strategy", "is required to pick: round_robin, random, weighted or least_loaded");
      if (pick === undefined && json.strategy !== undefined) throw invalidArgument("strategy", `picks one instance: use /v1/services/${rawName}/pick`);
      const out = await handlers.resolve(decode(ResolveRequestSchema, json), call);
      const body = toJson(ResolveResponseSchema, out, { alwaysEmitImplicit: true }) as { instances: JsonValue[]; revision: JsonValue; stale: JsonValue };
      send(res, 200, pick === undefined ? body : { instance: body.instances[0] ?? null, revision: body.revision, stale: body.stale });
    } catch (e) {
      const err = toConnectError(e);
      send(res, codeToHttpStatus(err.code), { code: codeToString(err.code), message: err.rawMessage });
    }
  })();
  return true;
}

/** Query parameters as the JSON form of a request; `fields` maps each allowed parameter to its field path. */
function paramsToJson(query: URLSearchParams, fields: Record<string, string>): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of query) {
    const field = fields[key];
    if (field === undefined) throw invalidArgument(key, `unknown query parameter; one of ${Object.keys(fields).join(", ")}`);
    const [head, tail] = field.split(".") as [string, string | undefined];
    const target = tail === undefined ? json : ((json[head] ??= {}) as Record<string, unknown>);
    const name = tail ?? head;
    if (name === "tags") ((target.tags ??= []) as string[]).push(value);
    else if (name === "metadata") {
      const i = value.indexOf("=");
      if (i <= 0) throw invalidArgument(key, `expected key=value, got ${JSON.stringify(value)}`);
      ((target.metadata ??= {}) as Record<string, string>)[value.slice(0, i)] = value.slice(i + 1);
    } else if (name === "allStatuses") {
      if (value !== "true" && value !== "false") throw invalidArgument(key, `expected true or false, got ${JSON.stringify(value)}`);
      target[name] = value === "true";
    } else target[name] = value;
  }
  return json;
}

function decode<T extends DescMessage>(schema: T, json: Record<string, unknown>) {
  const checked = checkJsonRequest(schema, json) as JsonValue;
  try {
    return fromJson(schema, checked);
  } catch (e) {
    // protobuf-es names the field ("cannot decode field roster.v1.ResolveRequest...").
    throw new RosterError("invalid_argument", e instanceof Error ? e.message : String(e));
  }
}

function send(res: NodeResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}
