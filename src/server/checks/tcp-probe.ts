import { connect } from "node:net";
import { formatHostPort } from "../../core/host-port.js";
import { errorText, excerpt, type ProbeResult } from "./probe-result.js";

/** One TCP probe. */
export interface TcpProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Longest output excerpt, in bytes (check-output-bytes). */
  readonly outputBytes: number;
}

/** Passes when a TCP connection to host:port opens within `timeoutMs`; the connection is closed at once. */
export function tcpProbe(o: TcpProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const address = formatHostPort(o.host, o.port);
    let done = false;
    const finish = (passed: boolean, text: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ passed, output: excerpt(text, o.outputBytes) });
    };
    const socket = connect({ host: o.host, port: o.port });
    socket.once("connect", () => finish(true, `TCP connect ${address}: success`));
    socket.once("error", (e) => finish(false, `TCP connect ${address}: ${errorText(e)}`));
    const timer = setTimeout(() => finish(false, `TCP connect ${address}: timed out after ${o.timeoutMs} ms`), o.timeoutMs);
    const onAbort = () => finish(false, "probe cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
