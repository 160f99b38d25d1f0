// Prometheus metrics. Hot paths count in bulk (one inc per broadcast, not per socket).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Gauges {
  connections(): number
  documents(): number
}

export function createMetrics(gauges: Gauges) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'huddle_process_' })
  const metrics = {
    registry,
    connections: new Gauge({
      name: 'huddle_connections',
      help: 'Open WebSocket connections',
      registers: [registry],
      collect() {
        this.set(gauges.connections())
      },
    }),
    documents: new Gauge({
      name: 'huddle_documents',
      help: 'Documents loaded in memory',
      registers: [registry],
      collect() {
        this.set(gauges.documents())
      },
    }),
    messagesIn: new Counter({ name: 'huddle_messages_received_total', help: 'Messages received from clients', labelNames: ['type'], registers: [registry] }),
    messagesOut: new Counter({ name: 'huddle_messages_sent_total', help: 'Messages sent to clients (one per socket)', registers: [registry] }),
    bytesIn: new Counter({ name: 'huddle_bytes_received_total', help: 'Bytes received in messages', registers: [registry] }),
    bytesOut: new Counter({ name: 'huddle_bytes_sent_total', help: 'Bytes sent in messages (counted per socket)', registers: [registry] }),
    batches: new Counter({ name: 'huddle_persisted_batches_total', help: 'LevelDB batches written by the group commit', registers: [registry] }),
    refusals: new Counter({
      name: 'huddle_refusals_total',
      help: 'Connections closed or writes refused, by close code',
      labelNames: ['code'],
      registers: [registry],
    }),
    unverifiedRefusals: new Counter({
      name: 'huddle_refusals_unverified_total',
      help: 'Connections refused before a verified identity for their workspace (not audited), by close code',
      labelNames: ['code'],
      registers: [registry],
    }),
    persistSeconds: new Histogram({
      name: 'huddle_persist_seconds',
      help: 'Time to write one group-commit batch',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  }
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>
