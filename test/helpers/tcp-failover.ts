import * as net from "node:net";

/** A loopback TCP front for several ports, as one DNS name with several addresses in front of every registry node. */
export interface TcpFailover {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts a front on a free loopback port that forwards each new connection to
 * the first of `targetPorts` that accepts it, trying them in order. An open
 * connection stays with its target and ends with it, so a client that loses
 * a node reconnects to the same address and lands on the next live one.
 */
export async function startTcpFailover(targetPorts: readonly number[]): Promise<TcpFailover> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("error", () => {});
    s.once("close", () => sockets.delete(s));
  };
  const srv = net.createServer((client) => {
    track(client);
    client.pause();
    const attempt = (i: number) => {
      if (i >= targetPorts.length) return void client.destroy();
      const up = net.connect(targetPorts[i]!, "127.0.0.1");
      let connected = false;
      up.once("error", () => {
        if (!connected) attempt(i + 1);
      });
      up.once("connect", () => {
        connected = true;
        if (client.destroyed) return void up.destroy();
        track(up);
        up.once("close", () => client.destroy());
        client.once("close", () => up.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
