import * as http from "node:http";
import * as https from "node:https";
import { isIP } from "node:net";
import type { CheckSpec } from "../../core/types.js";
import { errorText, excerpt, type ProbeResult } from "./probe-result.js";

/** One HTTP probe: where, what to send (a check's `http` part), what passes, how long to wait. */
export type HttpProbeOptions = NonNullable<CheckSpec["http"]> & {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Longest output excerpt, in bytes (check-output-bytes). */
  readonly outputBytes: number;
};

/**
 * GETs `path` and passes on a 2xx answer (or one of `expectedStatuses`)
 * within `timeoutMs`; a timeout, a refused connection or a TLS failure is a
 * failure. Output is `HTTP <code>: <first bytes of the body>` or the error.
 * Each probe opens its own connection and closes it (no keep-alive), so a
 * passing probe means the instance accepts new connections, which is what
 * its clients need.
 */
export function httpProbe(o: HttpProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(r);
    };
    const fail = (text: string) => finish({ passed: false, output: excerpt(text, o.outputBytes) });
    const options: https.RequestOptions = {
      host: o.host,
      port: o.port,
      path: o.path.startsWith("/") ? o.path : `/${o.path}`,
      method: "GET",
      headers: { "user-agent": "roster-health-check", connection: "close", ...o.headers },
      agent: false,
    };
    if (o.tls) {
      options.rejectUnauthorized = !o.tlsSkipVerify;
      if (isIP(o.host) === 0) options.servername = o.host;
    }
    const req = (o.tls ? https : http).request(options, (res) => {
      const code = res.statusCode ?? 0;
      const passed = o.expectedStatuses.length > 0 ? o.expectedStatuses.includes(code) : code >= 200 && code < 300;
      const chunks: Buffer[] = [];
      let size = 0;
      const report = () => finish({ passed, output: excerpt(`HTTP ${code}: ${Buffer.concat(chunks).toString("utf8")}`.trimEnd(), o.outputBytes) });
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // The verdict is in the status line; only enough body for the excerpt is read.
        if (size >= o.outputBytes) report();
      });
      res.on("end", report);
      res.on("error", report);
    });
    req.on("error", (e) => fail(errorText(e)));
    req.end();
    const timer = setTimeout(() => fail(`timed out after ${o.timeoutMs} ms`), o.timeoutMs);
    const onAbort = () => fail("probe cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
