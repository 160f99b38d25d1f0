// Prometheus metrics. Hot paths count in plain numbers (`traffic`), read into the counters only
// when /metrics is scraped: prom-client hashes an inc's labels on every call, which per received
// message was over 1 % of the server's CPU in the persistence benchmark.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Gauges {
  connections(): number
  documents(): number
}

/** Message traffic, counted on the hot path. */
export class Traffic {
  readonly received = new Map<string, number>()
  bytesIn = 0
  messagesOut = 0
  bytesOut = 0

  countReceived(type: string, bytes: number): void {
    this.received.set(type, (this.received.get(type) ?? 0) + 1)
    this.bytesIn += bytes
  }

  /** `messages` messages of `bytes` bytes in all, sent to each of `sockets` sockets */
  countSent(sockets: number, messages: number, bytes: number): void {
    this.messagesOut += sockets * messages
    this.bytesOut += sockets * bytes
  }
}

export function createMetrics(gauges: Gauges) {
  const registry = new Registry()
  const traffic = new Traffic()
  /** A counter whose value is read from `traffic` at scrape time. */
  const tally = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read())
      },
    })
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
    traffic,
    messagesIn: new Counter({
      name: 'huddle_messages_received_total',
      help: 'Messages received from clients',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [type, count] of traffic.received) this.labels(type).inc(count)
      },
    }),
    messagesOut: tally('huddle_messages_sent_total', 'Messages sent to clients (one per socket)', () => traffic.messagesOut),
    bytesIn: tally('huddle_bytes_received_total', 'Bytes received in messages', () => traffic.bytesIn),
    bytesOut: tally('huddle_bytes_sent_total', 'Bytes sent in messages (counted per socket)', () => traffic.bytesOut),
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
    compactions: new Counter({
      name: 'huddle_compactions_total',
      help: 'Document logs compacted: from the loaded document (live) or by replaying the log on disk (log)',
      labelNames: ['from'],
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
