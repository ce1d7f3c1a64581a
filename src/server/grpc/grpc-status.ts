import type { OutgoingHttpHeaders } from "node:http";
import { Code, type ConnectError } from "@connectrpc/connect";
import { isDecodeFailure } from "../../errors.js";

const printable = /^[\x20-\x24\x26-\x7e]*$/;

/**
 * Percent-encodes a status message for the grpc-message header as the gRPC
 * spec says: only bytes outside printable ASCII (0x20-0x7E), and `%` itself,
 * as %XX of their UTF-8 bytes. grpc-js reads the header with `decodeURI`, so
 * `encodeURIComponent`'s extra escapes (`%3A` for `:`) would reach its users
 * verbatim; this form reads the same through `decodeURI` and
 * `decodeURIComponent`.
 */
export function encodeGrpcMessage(message: string): string {
  if (printable.test(message)) return message;
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The grpc-status and grpc-message fields that end a call: OK without an error. */
export function statusFields(error: ConnectError | undefined): OutgoingHttpHeaders {
  if (error === undefined) return { "grpc-status": "0" };
  const fields: OutgoingHttpHeaders = { "grpc-status": String(error.code) };
  if (error.rawMessage !== "") fields["grpc-message"] = encodeGrpcMessage(error.rawMessage);
  return fields;
}

/**
 * Rewrites the status fields Connect wrote for a gRPC response: grpc-message
 * from `encodeURIComponent`'s form to the spec's, and Connect's INTERNAL for
 * an undecodable request to INVALID_ARGUMENT, so that gRPC served by Connect
 * (compressed requests, the health service) answers as the fast path does.
 * Returns the same object, changed in place.
 */
export function conformStatusFields(fields: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const raw = fields["grpc-message"];
  if (typeof raw !== "string") return fields;
  let message: string;
  try {
    message = decodeURIComponent(raw);
  } catch {
    return fields;
  }
  fields["grpc-message"] = encodeGrpcMessage(message);
  if (isDecodeFailure(Number(fields["grpc-status"]) as Code, message)) fields["grpc-status"] = String(Code.InvalidArgument);
  return fields;
}

/** The part of a Node response Connect writes gRPC status fields through. */
interface StatusWriter {
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  addTrailers(headers: OutgoingHttpHeaders): void;
}

/**
 * Makes a Node response that Connect is about to write a gRPC answer to pass
 * its status fields (in the headers of a trailers-only answer, or in the
 * trailers) through `conformStatusFields`.
 */
export function conformGrpcStatus(res: StatusWriter): void {
  const writeHead = res.writeHead.bind(res);
  const addTrailers = res.addTrailers.bind(res);
  res.writeHead = (status, headers) => writeHead(status, headers && conformStatusFields(headers));
  res.addTrailers = (headers) => addTrailers(conformStatusFields(headers));
}

/** True for a request in the gRPC protocol (not gRPC-Web, not Connect), by its content type. */
export function isGrpcRequest(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(\+|;|$)/.test(contentType);
}
