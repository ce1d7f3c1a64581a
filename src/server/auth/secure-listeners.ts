import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import type * as tls from "node:tls";
import type { ServerConfig } from "../../config.js";
import { Http1Connections } from "./http1-connections.js";
import { readSettingFile } from "./read-setting-file.js";
import { watchFiles } from "./watch-files.js";

/** The main listener's request handler. With TLS, HTTP/1.1 requests (ALPN) arrive here too, as `http.IncomingMessage`s typed as HTTP/2 ones: they have no `stream`. */
type Http2Listener = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/** The node's listeners, with or without TLS as the configuration says. */
export interface SecureListeners {
  /** True when the listeners speak TLS. */
  readonly tls: boolean;
  /** `http` or `https`, for the node's URL. */
  readonly scheme: "http" | "https";
  /** The main listener: HTTP/2 (gRPC, gRPC-Web, Connect); with TLS it also takes HTTP/1.1 through ALPN. */
  main(settings: http2.Settings, onRequest: Http2Listener): http2.Http2Server | http2.Http2SecureServer;
  /** The extra HTTP/1.1 listener (HTTPS with TLS). */
  http1(onRequest: http.RequestListener): http.Server | https.Server;
  /** Stops watching the certificate files. */
  close(): void;
}

function secureOptions(config: ServerConfig): tls.SecureContextOptions & tls.TlsOptions {
  const ca = config.tlsClientCa === "" ? undefined : readSettingFile("tls-client-ca", config.tlsClientCa);
  return {
    cert: readSettingFile("tls-cert", config.tlsCert),
    key: readSettingFile("tls-key", config.tlsKey),
    ...(ca !== undefined ? { ca, requestCert: true } : {}),
    // A client without a certificate is let through (to health probes, or to token auth); one with an untrusted certificate is not (see refuseUntrusted).
    rejectUnauthorized: false,
  };
}

/** Ends a TLS connection whose client presented a certificate that does not chain to the client CA. */
function refuseUntrusted(socket: tls.TLSSocket): void {
  if (!socket.authorized && socket.getPeerCertificate().raw !== undefined) socket.destroy();
}

/**
 * Builds the listeners for `config`. With `tls-cert`/`tls-key` both speak
 * TLS; the files are re-read every `credential-reload-interval-ms` when they
 * change, and new connections get the new certificate while open ones keep
 * theirs. A file that cannot be read or parsed at a reload keeps the old
 * certificate and reports through `onReloadError`.
 */
export function secureListeners(config: ServerConfig, onReloadError: (e: unknown) => void = () => {}): SecureListeners {
  if (config.tlsCert === "") {
    return {
      tls: false,
      scheme: "http",
      main: (settings, onRequest) => http2.createServer({ settings }, onRequest),
      http1: (onRequest) => http.createServer(onRequest),
      close: () => {},
    };
  }
  const servers: tls.Server[] = [];
  const files = [config.tlsCert, config.tlsKey, ...(config.tlsClientCa !== "" ? [config.tlsClientCa] : [])];
  const stop = watchFiles(files, config.timing.credentialReloadIntervalMs, () => {
    try {
      const options = secureOptions(config);
      for (const s of servers) s.setSecureContext(options);
    } catch (e) {
      onReloadError(e);
    }
  });
  const track = <S extends tls.Server>(s: S): S => {
    servers.push(s);
    if (config.tlsClientCa !== "") s.on("secureConnection", refuseUntrusted);
    return s;
  };
  return {
    tls: true,
    scheme: "https",
    main: (settings, onRequest) => {
      const http1 = new Http1Connections();
      const server = track(http2.createSecureServer({ ...secureOptions(config), settings, allowHTTP1: true }, http1.wrap(onRequest)));
      server.on("secureConnection", (socket: tls.TLSSocket) => http1.add(socket));
      // The node closes its main listener with close() (server.ts); that is when its HTTP/1.1 connections must go too.
      const close = server.close.bind(server);
      server.close = (callback?: (err?: Error) => void) => {
        close(callback);
        http1.closeAll(config.timing.shutdownGraceMs);
        return server;
      };
      return server;
    },
    http1: (onRequest) => track(https.createServer(secureOptions(config), onRequest)),
    close: stop,
  };
}
