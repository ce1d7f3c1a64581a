/**
 * The parent's side of the light watcher process (bench/light-watchers.ts),
 * shared by every benchmark that follows many streams with it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LightRequest } from "./light-watchers.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

/** A gRPC message frame: the 5-byte prefix (uncompressed, length) and the body. */
export function framed(body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * A watcher process, with a way to ask it something and wait for its answer:
 * by default the light one; `script` names another client speaking the same
 * messages (bench/grpcjs-watchers.ts).
 */
export function lightClient<R extends object = LightRequest>(script = "light-watchers.ts"): { ask<T>(m: R, until?: (r: Record<string, unknown>) => boolean): Promise<T>; child: ChildProcess } {
  const child = spawn(process.execPath, ["--import", "tsx", `${here}${script}`], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return {
    child,
    ask: <T>(m: R, until: (r: Record<string, unknown>) => boolean = () => true) =>
      new Promise<T>((resolve, reject) => {
        const on = (r: Record<string, unknown>) => {
          if (typeof r.error === "string") return reject(new Error(r.error));
          if (!until(r)) return;
          child.off("message", on);
          resolve(r as T);
        };
        child.on("message", on);
        child.send(m);
      }),
  };
}
