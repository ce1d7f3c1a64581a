/** Files a client proves itself with to the xDS server, and trusts it by: paths the client reads (and re-reads) itself. */
export interface BootstrapSecurity {
  /** Talk TLS to the nodes (gRFC A65 `tls` channel creds). Without `caFile`, the system roots. */
  readonly tls: boolean;
  /** PEM roots that sign the nodes' certificates. */
  readonly caFile?: string;
  /** PEM client certificate and its key, for mTLS; both or neither. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** A file holding a JWT, sent as `authorization: Bearer` on the ADS stream (gRFC A97 `jwt_token_file` call creds). */
  readonly tokenFile?: string;
}

/** What a gRPC client's xDS bootstrap says about itself and where Roster is. */
export interface BootstrapOptions {
  /** Roster nodes as `host:port`; a client moves to the next when one fails. */
  readonly servers: readonly string[];
  /** The client's zone: its own zone's instances are preferred, the rest are the fallback. */
  readonly zone: string;
  /** The Roster namespace the client's `xds:///svc` targets live in. */
  readonly namespace: string;
  /** The node id the client reports (logs name it on a NACK). */
  readonly nodeId: string;
  /** Plaintext without a token when left out. */
  readonly security?: BootstrapSecurity;
}

/**
 * A GRPC_XDS_BOOTSTRAP document for Roster: ADS to each node, `xds_v3`, and
 * a node with a locality (grpc-js refuses a bootstrap without one) and the
 * `roster.namespace` metadata the server maps names with.
 *
 * With TLS, the channel creds are gRFC A65's `tls` (file-watcher
 * certificates: the client re-reads them) and nothing else: no `insecure`
 * fallback, which a client that lacks `tls` would pick silently. A token
 * goes in gRFC A97's `call_creds` as a file the client re-reads when the
 * token nears its `exp`. grpc-js-xds 1.14 implements neither (only
 * `insecure` and `google_default`), so it refuses a TLS bootstrap and would
 * ignore `call_creds`; see the README.
 */
export function xdsBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const s = o.security;
  const tlsConfig = s?.tls
    ? {
        ...(s.caFile !== undefined ? { ca_certificate_file: s.caFile } : {}),
        ...(s.certFile !== undefined ? { certificate_file: s.certFile } : {}),
        ...(s.keyFile !== undefined ? { private_key_file: s.keyFile } : {}),
      }
    : undefined;
  const channel_creds = [tlsConfig !== undefined ? { type: "tls", config: tlsConfig } : { type: "insecure" }];
  const call_creds = s?.tokenFile !== undefined ? [{ type: "jwt_token_file", config: { jwt_token_file: s.tokenFile } }] : undefined;
  return {
    xds_servers: o.servers.map((server_uri) => ({ server_uri, channel_creds, ...(call_creds ? { call_creds } : {}), server_features: ["xds_v3"] })),
    node: { id: o.nodeId, locality: { zone: o.zone }, metadata: { "roster.namespace": o.namespace } },
  };
}
