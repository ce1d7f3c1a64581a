import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import type { FrontEnd } from "./target.js";

/** How a call ended: its status code and message as the client reads them. */
export interface Outcome {
  /** The gRPC code (0 for OK), or a description when the answer was not a status at all. */
  readonly code: Code | 0 | string;
  readonly message: string;
}

function envelope(flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** The status fields of a gRPC or gRPC-Web answer: its trailers, or a trailers-only header block. */
function grpcOutcome(fields: Record<string, unknown>): Outcome {
  return { code: Number(fields["grpc-status"]) as Code, message: decodeURIComponent(String(fields["grpc-message"] ?? "")) };
}

/**
 * Sends `body` (the request message's bytes, as they are, not re-encoded) to
 * a unary RPC through one front end's own wire protocol over HTTP/2, and
 * reads the status back the way that protocol carries it. For Connect JSON,
 * `body` is sent as the JSON text. `method` is a RegistryService method, or a
 * whole path ("/package.Service/Method").
 */
export async function rawUnary(frontEnd: FrontEnd, url: string, method: string, body: Buffer): Promise<Outcome> {
  const session = http2.connect(url);
  try {
    const path = method.startsWith("/") ? method : `/roster.v1.RegistryService/${method}`;
    const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path };
    let payload: Buffer;
    switch (frontEnd) {
      case "grpc":
        Object.assign(headers, { "content-type": "application/grpc", te: "trailers" });
        payload = envelope(0, body);
        break;
      case "grpc-via-connect":
        Object.assign(headers, { "content-type": "application/grpc", te: "trailers", "grpc-encoding": "gzip" });
        payload = envelope(1, gzipSync(body));
        break;
      case "grpc-web":
        Object.assign(headers, { "content-type": "application/grpc-web+proto" });
        payload = envelope(0, body);
        break;
      case "connect-binary":
        Object.assign(headers, { "content-type": "application/proto", "connect-protocol-version": "1" });
        payload = body;
        break;
      case "connect-json":
        Object.assign(headers, { "content-type": "application/json", "connect-protocol-version": "1" });
        payload = body;
        break;
    }
    const req = session.request(headers);
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on("response", (h) => (head = h));
    req.on("trailers", (h) => (trailers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => {
      req.once("error", reject);
      req.once("close", resolve);
      req.end(payload);
    });
    const data = Buffer.concat(chunks);
    switch (frontEnd) {
      case "grpc":
      case "grpc-via-connect":
        return grpcOutcome(trailers ?? head);
      case "grpc-web": {
        if (head["grpc-status"] !== undefined) return grpcOutcome(head);
        // The last frame is the trailer: "name: value" lines.
        let at = 0;
        while (at < data.length) {
          const len = data.readUInt32BE(at + 1);
          if (data[at] === 0x80) {
            const fields: Record<string, string> = {};
            for (const line of data.subarray(at + 5, at + 5 + len).toString().split("\r\n")) {
              const i = line.indexOf(":");
              if (i > 0) fields[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
            }
            return grpcOutcome(fields);
          }
          at += 5 + len;
        }
        return { code: `no trailer (http ${head[":status"]})`, message: "" };
      }
      case "connect-binary":
      case "connect-json": {
        if (Number(head[":status"]) === 200) return { code: 0, message: "" }; // OK
        const error = JSON.parse(data.toString()) as { code: string; message?: string };
        return { code: codeFromString(error.code) ?? `unknown code ${error.code}`, message: error.message ?? "" };
      }
    }
  } finally {
    session.close();
  }
}
