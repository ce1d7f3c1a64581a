import * as net from "node:net";

/** A loopback TCP relay to a port, that counts its connections and can cut them, to play a network fault. */
export interface TcpRelay {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Destroys every open connection and refuses new ones until `restore()`. */
  cut(): void;
  /**
   * Stops forwarding in both directions without closing anything, as a
   * vanished host or a partition would; connections made while frozen are
   * accepted and held the same way.
   */
  freeze(): void;
  /** Ends a freeze: every held connection forwards again, bytes sent meanwhile included (a partition that heals). */
  thaw(): void;
  /** Accepts connections again after `cut()`. */
  restore(): void;
  close(): Promise<void>;
}

/** Starts a relay on a free loopback port to `targetPort`. */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let connections = 0;
  let down = false;
  let frozen = false;
  const hold = (a: net.Socket, b: net.Socket) => {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  };
  const srv = net.createServer((client) => {
    if (down) return void client.destroy();
    connections++;
    const up = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, up]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        up.destroy();
      });
    }
    const pair: [net.Socket, net.Socket] = [client, up];
    if (frozen) {
      client.pause();
      up.pause();
    } else {
      client.pipe(up);
      up.pipe(client);
    }
    pairs.add(pair);
    client.once("close", () => pairs.delete(pair));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const destroyAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (srv.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    cut() {
      down = true;
      destroyAll();
    },
    restore() {
      down = false;
    },
    freeze() {
      frozen = true;
      for (const [client, up] of pairs) hold(client, up);
    },
    thaw() {
      frozen = false;
      for (const [client, up] of pairs) {
        client.pipe(up);
        up.pipe(client);
      }
    },
    close() {
      down = true;
      destroyAll();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
