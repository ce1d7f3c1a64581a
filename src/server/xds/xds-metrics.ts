import { Counter, Gauge, type Registry } from "prom-client";

/** What the xDS server counts. */
export interface XdsMetrics {
  clientConnected(): void;
  clientDisconnected(): void;
  /** One DiscoveryResponse sent, by type label (lds, rds, cds, eds). */
  pushed(type: string): void;
  /** One NACK received, by type label. */
  nacked(type: string): void;
  /** The totals so far, for GetStatus. */
  totals(): { readonly clients: number; readonly pushes: number; readonly nacks: number };
}

/** The xDS counters on a node's Prometheus registry: `roster_xds_clients`, `roster_xds_pushes_total`, `roster_xds_nacks_total`. */
export function xdsMetrics(registry: Registry): XdsMetrics {
  const clients = new Gauge({ name: "roster_xds_clients", help: "Open xDS (StreamAggregatedResources) streams on this node", registers: [registry] });
  const pushes = new Counter({ name: "roster_xds_pushes_total", help: "xDS responses sent, by type", labelNames: ["type"], registers: [registry] });
  const nacks = new Counter({ name: "roster_xds_nacks_total", help: "xDS responses rejected by clients, by type", labelNames: ["type"], registers: [registry] });
  const t = { clients: 0, pushes: 0, nacks: 0 };
  return {
    clientConnected: () => (clients.inc(), t.clients++),
    clientDisconnected: () => (clients.dec(), t.clients--),
    pushed: (type) => (pushes.inc({ type }), t.pushes++),
    nacked: (type) => (nacks.inc({ type }), t.nacks++),
    totals: () => ({ ...t }),
  };
}
