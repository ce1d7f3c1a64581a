import type * as http2 from "node:http2";
import { fromBinary, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RegistryService } from "../../gen/roster/v1/registry_pb.js";
import { toConnectError } from "../errors.js";
import type { CallContext, RegistryHandlers } from "./registry-service.js";

interface Route {
  readonly method: DescMethod;
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly handler: (req: unknown, call: CallContext) => unknown;
  /** True when the handler answers with encoded bytes rather than a message. */
  readonly encoded: boolean;
}

// Watch messages are shared by every watcher that sees a change the same way: encode each once.
const frames = new WeakMap<object, Buffer>();

/**
 * Serves RegistryService over plain gRPC (HTTP/2, identity encoding) straight
 * on Node's HTTP/2 streams, with the same handlers as the Connect router.
 *
 * Why: on this stack Connect's generic pipeline costs several hundred
 * microseconds of CPU per call and per streamed message; the registry's hot
 * paths (heartbeats, watch fan-out, resolve) are nearly all plain gRPC, and a
 * direct implementation costs a fraction of that, and encodes a watch event
 * once for all its watchers. Everything else (gRPC-Web, Connect, compressed
 * gRPC, the health service) goes through Connect as before.
 */
export class GrpcFastPath {
  readonly #routes = new Map<string, Route>();
  readonly #calls = new Set<AbortController>();
  #closing: ConnectError | undefined;

  constructor(
    handlers: RegistryHandlers,
    readonly maxMessageBytes: number,
  ) {
    for (const method of RegistryService.methods) {
      // Resolve has an encoded variant that splices cached instance bytes instead of building messages.
      const encoded = method.localName === "resolve";
      const name = encoded ? "resolveEncoded" : method.localName;
      const handler = (handlers as unknown as Record<string, Route["handler"]>)[name]!.bind(handlers);
      this.#routes.set(`/${RegistryService.typeName}/${method.name}`, { method, input: method.input, output: method.output, handler, encoded });
    }
  }

  /**
   * Takes the request if it is plain gRPC for RegistryService and returns
   * true; returns false to leave it to Connect.
   */
  handle(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): boolean {
    const h = req.headers;
    const route = this.#routes.get(h[":path"] ?? "");
    if (route === undefined || h[":method"] !== "POST") return false;
    const type = h["content-type"];
    if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
    const encoding = h["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    // The compatibility request also listens to the stream; keep it flowing so it never pauses the stream.
    req.resume();
    const timeout = h["grpc-timeout"];
    void this.#serve(req.stream, res, route, typeof timeout === "string" ? timeout : undefined);
    return true;
  }

  /** Ends every call in flight with `reason` and refuses new ones. */
  shutdown(reason: ConnectError): void {
    this.#closing = reason;
    for (const c of this.#calls) c.abort(reason);
  }

  async #serve(stream: http2.ServerHttp2Stream, res: http2.Http2ServerResponse, route: Route, timeout: string | undefined): Promise<void> {
    const controller = new AbortController();
    const call: CallContext = { signal: controller.signal, connection: stream.session };
    const reply = new Reply(stream, res);
    this.#calls.add(controller);
    const onClose = () => controller.abort(new ConnectError("the client cancelled the call", Code.Canceled));
    stream.once("close", onClose);
    const ms = timeout === undefined ? undefined : timeoutMs(timeout);
    const timer = ms === undefined ? undefined : setTimeout(() => controller.abort(new ConnectError("the deadline passed", Code.DeadlineExceeded)), ms);
    try {
      if (this.#closing) throw this.#closing;
      const reader = new FrameReader(stream, this.maxMessageBytes, controller.signal);
      switch (route.method.methodKind) {
        case "unary": {
          const res = await route.handler(decode(route.input, await reader.single()), call);
          reply.message(route.encoded ? (res as Uint8Array) : toBinary(route.output, res as never));
          break;
        }
        case "client_streaming": {
          const res = await route.handler(reader.messages(route.input), call);
          reply.message(toBinary(route.output, res as never));
          break;
        }
        case "server_streaming": {
          const events = route.handler(decode(route.input, await reader.single()), call) as AsyncIterable<object>;
          for await (const m of events) await reply.send(frames.get(m) ?? encodeShared(route.output, m), controller.signal);
          break;
        }
        default:
          throw new ConnectError(`${route.method.methodKind} is not served`, Code.Unimplemented);
      }
      reply.end(0, "");
    } catch (e) {
      const err = controller.signal.aborted && !(e instanceof ConnectError) ? toConnectError(controller.signal.reason) : toConnectError(e);
      reply.end(err.code, err.rawMessage);
    } finally {
      if (timer) clearTimeout(timer);
      stream.off("close", onClose);
      this.#calls.delete(controller);
    }
  }
}

function decode(schema: DescMessage, bytes: Uint8Array): never {
  try {
    return fromBinary(schema, bytes) as never;
  } catch (e) {
    throw new ConnectError(`cannot decode ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`, Code.InvalidArgument);
  }
}

function encodeShared(schema: DescMessage, m: object): Buffer {
  const f = frame(toBinary(schema, m as never));
  frames.set(m, f);
  return f;
}

function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(5 + body.length);
  f[0] = 0;
  f.writeUInt32BE(body.length, 1);
  f.set(body, 5);
  return f;
}

/**
 * The response side of one call: headers once, frames, then trailers (or
 * trailers only). Trailers go through the compatibility response, whose own
 * 'wantTrailers' listener sends them.
 */
class Reply {
  #headersSent = false;
  #ended = false;
  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly res: http2.Http2ServerResponse,
  ) {}

  /** A unary or client-streaming response message; the trailers follow at `end`. */
  message(body: Uint8Array): void {
    this.#headers();
    if (!this.stream.destroyed) this.stream.write(frame(body));
  }

  /** One streamed message, waiting for the client to take it when the stream is full. */
  async send(f: Buffer, signal: AbortSignal): Promise<void> {
    this.#headers();
    if (this.stream.destroyed) throw signal.reason ?? new ConnectError("the stream closed", Code.Canceled);
    if (this.stream.write(f)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.stream.once("drain", done);
      signal.addEventListener("abort", done, { once: true });
    });
    signal.throwIfAborted();
  }

  end(code: number, message: string): void {
    if (this.#ended || this.stream.destroyed || this.stream.closed) return;
    this.#ended = true;
    const trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(code) };
    if (message !== "") trailers["grpc-message"] = encodeURIComponent(message);
    if (!this.#headersSent) {
      // Trailers-only: an error before any message.
      this.stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      return;
    }
    this.res.addTrailers(trailers);
    this.stream.end();
  }

  #headers(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  }
}

/** Splits a request stream into gRPC length-prefixed messages. */
class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #ready: Uint8Array[] = [];
  #ended = false;
  #error: ConnectError | undefined;
  #wake: (() => void) | undefined;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly maxBytes: number,
    signal: AbortSignal,
  ) {
    // A shutdown or deadline ends a client stream that is waiting for its next message.
    signal.addEventListener("abort", () => this.#fail(toConnectError(signal.reason)), { once: true });
    stream.on("data", (chunk: Buffer) => this.#push(chunk));
    stream.once("end", () => this.#finish());
    stream.once("close", () => this.#finish());
  }

  /** The one message of a unary or server-streaming request, once the client has finished sending. */
  async single(): Promise<Uint8Array> {
    while (!this.#ended && !this.#error) await this.#next();
    if (this.#error) throw this.#error;
    if (this.#ready.length !== 1) throw new ConnectError(`expected one request message, got ${this.#ready.length}`, Code.InvalidArgument);
    return this.#ready[0]!;
  }

  /** The messages of a client stream, decoded, as they arrive. */
  async *messages(schema: DescMessage): AsyncIterable<never> {
    for (;;) {
      if (this.#error) throw this.#error;
      const m = this.#ready.shift();
      if (m !== undefined) {
        yield decode(schema, m);
        continue;
      }
      if (this.#ended) return;
      await this.#next();
    }
  }

  #next(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #signal(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #fail(error: ConnectError): void {
    this.#error ??= error;
    this.#signal();
  }

  #finish(): void {
    if (this.#buffer.length > 0 && !this.#error) this.#error = new ConnectError("the request ended inside a message", Code.InvalidArgument);
    this.#ended = true;
    this.#signal();
  }

  #push(chunk: Buffer): void {
    if (this.#error) return;
    let buf = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf[0] !== 0) {
        this.#error = new ConnectError("compressed message without grpc-encoding", Code.Internal);
        break;
      }
      if (length > this.maxBytes) {
        this.#error = new ConnectError(`limit max-message-bytes=${this.maxBytes} reached: the request message has ${length} bytes`, Code.ResourceExhausted);
        break;
      }
      if (buf.length < 5 + length) break;
      this.#ready.push(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    this.#buffer = buf;
    this.#signal();
  }
}

const units: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** Parses a grpc-timeout header ("5S", "100m"...) into milliseconds; undefined when malformed. */
function timeoutMs(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  return Math.max(1, Math.ceil(Number(m[1]) * units[m[2]!]!));
}
