// What the orchestrator (bench/run.ts) asks the client processes (bench/worker.ts) to do.
import type { Dialect } from './ywire.js'

export interface Target {
  /** server label, e.g. huddle */
  server: string
  host: string
  port: number
  dialect: Dialect
  /** room / document name, e.g. bench/a */
  room: string
  /** Huddle's ?token=...; empty for the peers */
  token: string
}

export type ClientKind = 'observer' | 'writer' | 'mover' | 'pump'

export interface ConnectArgs {
  group: string
  target: Target
  kind: ClientKind
  count: number
  /** id of the first client (marker writer ids must be unique across processes) */
  idBase: number
  /** each client in its own document: `<room>-<id>` */
  roomPerClient?: boolean
  /** clients of this share that scan for latency markers (default: all) */
  probes?: number
  /** handshakes in flight at once */
  concurrency: number
  timeoutMs: number
}

export interface ConnectResult {
  ok: number
  failed: number
  errors: string[]
  ms: number
}

export interface StormArgs {
  group: string
  target: Target
  count: number
  /** start all connections at this time (µs, monotonic) */
  atUs: number
  timeoutMs: number
}

export interface StormResult {
  /** µs (monotonic) at which each client had the whole document */
  syncedAtUs: number[]
  /** bytes of the sync step 2 each client received */
  bytes: number[]
  failed: number
  errors: string[]
}

export interface HistJson {
  counts: number[]
  max: number
}

export interface GroupStats {
  hist: HistJson
  /** markers received from other clients since the last reset */
  deliveries: number
  /** writes (or awareness moves) made since the last reset */
  writes: number
  /** own updates acknowledged (pump) since the last reset */
  acks: number
  /** connections that closed while the group was open */
  closed: number
  /** most recent receive time (µs) */
  lastReceiveUs: number
}

export interface ActArgs {
  group: string
  /** writes (writers) or cursor moves (movers) per second, per client */
  hz: number
  durationMs: number
  /** only the first `limit` clients of the group in this process act */
  limit?: number
}

export interface PumpArgs {
  group: string
  durationMs: number
  /** unacknowledged updates allowed per connection */
  window: number
  /** map: set one of 16 keys (the document stays small); text: append to a Y.Text (it grows) */
  mode?: 'map' | 'text'
  /** stop each client after this many updates */
  maxUpdates?: number
}

export interface LockAgentArgs {
  group: string
  url: string
  workspace: string
  token: string
  count: number
  idBase: number
  /** lock-only connections (connectLocks) instead of replicas of the coordination document */
  lockOnly: boolean
}

export interface LockLoopArgs {
  group: string
  /** resources to pick from at random (one per claim) */
  resources: string[]
  durationMs: number
  holdMs: number
  /** 1 = one claim at a time per agent, back to back */
  maxRounds: number
}

export interface LockEvent {
  token: number
  /** when the claim was written (µs, monotonic) */
  claimedUs: number
  /** when the client saw the grant */
  grantedUs: number
  /** when the holder started releasing */
  releasedUs: number
  resource: string
}

export interface Request {
  id: number
  cmd: string
  args: unknown
}

export interface Reply {
  id: number
  ok: boolean
  result?: unknown
  error?: string
}
