/**
 * A grpc-js-xds caller in its own process, so a fault test can SIGKILL it
 * (grpc-js-xds never closes the ADS channel of a per-channel bootstrap, and
 * its retries toward a dead node keep a process alive). argv[2] is JSON:
 * { target: "xds:///svc", deadlineMs?, clients: [{ name, bootstrap }] }. Each
 * client calls in a loop (see xds-load.ts); every call is printed as a JSON line
 * { c: name, at: epoch ms, i?: instance, e?: error }.
 */
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { Echo, type EchoClient } from "./echo-server.js";
import { startLoad } from "./xds-load.js";

grpcXds.register();
const opts = JSON.parse(process.argv[2] ?? "{}") as { target: string; deadlineMs?: number; clients: { name: string; bootstrap: unknown }[] };
for (const { name, bootstrap } of opts.clients) {
  const c = new Echo(opts.target, grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) }) as unknown as EchoClient;
  const load = startLoad(c, 2, opts.deadlineMs);
  let printed = 0;
  setInterval(() => {
    let out = "";
    while (printed < load.samples.length) {
      const s = load.samples[printed++]!;
      out += `${JSON.stringify({ c: name, at: performance.timeOrigin + s.at, i: s.instance, e: s.error })}\n`;
    }
    if (out !== "") process.stdout.write(out);
  }, 50);
}
