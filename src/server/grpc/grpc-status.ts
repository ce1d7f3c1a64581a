import type { OutgoingHttpHeaders } from "node:http";
import type { ConnectError } from "@connectrpc/connect";

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
