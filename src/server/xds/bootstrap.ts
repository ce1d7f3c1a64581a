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
}

/**
 * A GRPC_XDS_BOOTSTRAP document for Roster: ADS over plaintext to each node,
 * `xds_v3`, and a node with a locality (grpc-js refuses a bootstrap without
 * one) and the `roster.namespace` metadata the server maps names with.
 */
export function xdsBootstrap(o: BootstrapOptions): Record<string, unknown> {
  return {
    xds_servers: o.servers.map((server_uri) => ({ server_uri, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] })),
    node: { id: o.nodeId, locality: { zone: o.zone }, metadata: { "roster.namespace": o.namespace } },
  };
}
