import type * as http2 from "node:http2";
import type { DescMessage, DescMethod } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { RegistryService } from "../../../gen/roster/v1/registry_pb.js";
import { defaultLimits } from "../../config.js";
import { RosterError, cancelled, toConnectError } from "../../errors.js";
import type { CallContext } from "../call-context.js";
import { encodeMessage } from "../convert.js";
import type { RegistryHandlers } from "../registry-service.js";
import { EnvelopeReader } from "./envelope-reader.js";
import { grpcTimeoutMs } from "./grpc-timeout.js";
import { frame, Reply } from "./reply.js";
import type { RequestByteBudget } from "./request-byte-budget.js";
import { decodeRequest, RequestStream } from "./request-stream.js";

interface Route {
  readonly method: DescMethod;
  readonly output: DescMessage;
  readonly handler: (req: unknown, call: CallContext) => unknown;
}

// Watch messages are shared by every watcher that sees a change the same way: encode each once.
const envelopes = new WeakMap<object, Buffer>();
// A fan-out offers one message to thousands of streams in a row: the last one is looked up without the WeakMap.
let lastMessage: object | undefined;
let lastEnvelope: Buffer | undefined;

function envelopeOf(schema: DescMessage, m: object): Buffer {
  if (m === lastMessage) return lastEnvelope!;
  let e = envelopes.get(m);
  if (e === undefined) {
    e = frame(encodeMessage(schema, m));
    envelopes.set(m, e);
  }
  lastMessage = m;
  lastEnvelope = e;
  return e;
}

/**
 * Serves RegistryService over plain gRPC (HTTP/2, identity encoding) straight
 * on Node's HTTP/2 streams, calling the same handlers as the Connect router.
 *
 * Why: on this stack Connect's generic pipeline costs a large share of the
 * CPU of each call and each streamed message; the registry's hot paths
 * (heartbeats, watch fan-out, resolve) are nearly all plain gRPC. Everything
 * else (gRPC-Web, Connect, compressed gRPC, the health service) goes through
 * Connect, which answers every refusal with the same code and message.
 */
export class GrpcFastPath {
  readonly #routes = new Map<string, Route>();
  readonly #calls = new Set<AbortController>();
  #closing: ConnectError | undefined;

  constructor(
    handlers: RegistryHandlers,
    readonly maxMessageBytes: number,
    readonly budget: RequestByteBudget,
    /** max-stream-buffer-bytes (see `Reply`). */
    readonly maxStreamBufferBytes: number = defaultLimits.maxStreamBufferBytes,
  ) {
    for (const method of RegistryService.methods) {
      const handler = (handlers as unknown as Record<string, Route["handler"]>)[method.localName]!.bind(handlers);
      this.#routes.set(`/${RegistryService.typeName}/${method.name}`, { method, output: method.output, handler });
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
    const reply = new Reply(stream, res, this.maxStreamBufferBytes);
    const end = (reason: unknown) => {
      if (!reply.stuck) return;
      controller.abort(reason);
      reply.reset(reason);
    };
    // True while the server-streaming loop below waits for the handler's next message: only then may a message
    // be written past the handler without reordering what it yields.
    let idle = false;
    // Read for every watcher of every change: a plain flag, not the signal's getter.
    let aborted = false;
    controller.signal.addEventListener("abort", () => (aborted = true), { once: true });
    const offer = (m: object) => idle && !aborted && reply.offer(envelopeOf(route.output, m));
    const call: CallContext = { signal: controller.signal, connection: stream.session, end, offer };
    this.#calls.add(controller);
    const onClose = () => controller.abort(cancelled("the client cancelled the call"));
    stream.once("close", onClose);
    const kind = route.method.methodKind;
    const request = new RequestStream(
      stream,
      new EnvelopeReader(this.maxMessageBytes, this.budget.account(stream.session ?? stream)),
      kind === "client_streaming" ? "client-streaming" : kind === "server_streaming" ? "server-streaming" : "unary",
      controller.signal,
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.#closing) throw this.#closing;
      const ms = grpcTimeoutMs(timeout);
      // Connect's words for the same event.
      if (ms !== undefined) timer = setTimeout(() => controller.abort(new RosterError("deadline_exceeded", "the operation timed out")), ms);
      switch (kind) {
        case "unary": {
          const out = await route.handler(decodeRequest(route.method.input, await request.single()), call);
          await reply.send(envelopeOf(route.output, out as object), controller.signal);
          break;
        }
        case "client_streaming": {
          const out = await route.handler(request.messages(route.method.input), call);
          await reply.send(envelopeOf(route.output, out as object), controller.signal);
          break;
        }
        case "server_streaming": {
          const events = route.handler(decodeRequest(route.method.input, await request.single()), call) as AsyncIterable<object>;
          const it = events[Symbol.asyncIterator]();
          try {
            for (;;) {
              idle = true;
              const r = await it.next();
              idle = false;
              if (r.done) break;
              await reply.send(envelopeOf(route.output, r.value), controller.signal);
            }
          } finally {
            idle = false;
            await it.return?.();
          }
          break;
        }
        default:
          throw new RosterError("unimplemented", `${kind} is not served`);
      }
      reply.end(undefined);
    } catch (e) {
      // After an abort, the abort's reason (deadline, shutdown, cancel) is what the client is told.
      reply.end(toConnectError(controller.signal.aborted ? controller.signal.reason : e));
    } finally {
      clearTimeout(timer);
      request.dispose();
      stream.off("close", onClose);
      this.#calls.delete(controller);
    }
  }
}
