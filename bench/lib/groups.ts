// The client groups a benchmark worker process holds: one group per role of a scenario (observers,
// movers, pumps as raw sockets; writers as providers), its clients and what they measured since
// the last reset.
import { Histogram } from './hist.js'
import type { Provider } from './providers.js'
import type { RawWs } from './rawws.js'
import type { Target } from './rpc.js'
import { Wire } from './ywire.js'

export interface Stats {
  hist: Histogram
  deliveries: number
  writes: number
  acks: number
  closed: number
  sinceUs: number
  lastReceiveUs: number
}

export interface Client {
  id: number
  /** scans what it receives for latency markers */
  probe: boolean
  ws: RawWs | null
  synced: boolean
  onSynced: ((bytes: number) => void) | null
  /** pump: sent, not yet acknowledged */
  inflight: number
  /** pump (hocuspocus): send times of unacknowledged updates, in order */
  sentAt: number[]
  /** hocuspocus answers our empty sync step 2 with a status message that is not an ack */
  statusToSkip: number
  onAck: (() => void) | null
  /** the client's own document's framing, when the group has a document per client */
  wire: Wire | null
  // mover
  clientID: number
  clock: number
}

export interface Group {
  target: Target
  wire: Wire
  kind: string
  clients: Client[]
  providers: Provider[]
  stats: Stats
  closing: boolean
}

export const groups = new Map<string, Group>()

export function newStats(): Stats {
  return { hist: new Histogram(), deliveries: 0, writes: 0, acks: 0, closed: 0, sinceUs: 0, lastReceiveUs: 0 }
}

export function groupFor(name: string, target: Target, kind: string): Group {
  let group = groups.get(name)
  if (!group) {
    group = { target, wire: new Wire(target.dialect, target.room), kind, clients: [], providers: [], stats: newStats(), closing: false }
    groups.set(name, group)
  }
  return group
}

export function newClient(id: number): Client {
  return {
    id,
    probe: true,
    wire: null,
    ws: null,
    synced: false,
    onSynced: null,
    inflight: 0,
    sentAt: [],
    statusToSkip: 0,
    onAck: null,
    clientID: 1 + Math.floor(Math.random() * 0x7ffffff0),
    clock: 0,
  }
}
