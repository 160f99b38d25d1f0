// Server settings and their defaults. Everything here can be set from `huddle serve` flags.
export interface ServerOptions {
  port: number
  host: string
  dataDir: string
  /** keep the database in memory instead of dataDir (nothing is written to disk; everything is
   * lost when the process ends) — for tests, demos and measuring what the disk costs */
  memory: boolean
  durability: 'os' | 'fsync'
  /** largest accepted message (docs/design.md §7: 4413 above it) */
  maxMessageBytes: number
  ratePerSecond: number
  burst: number
  forgeriesPerMinute: number
  maxBufferedBytes: number
  /** an idle document stays loaded this long after its last connection */
  unloadAfterMs: number
  /** a disconnected session keeps its locks this long */
  leaseGraceMs: number
  /** a claim that has to wait appears in its lock's queue within this long (see authority/workspace.ts) */
  queueLagMs: number
  /** the share of a core one room's broadcasts may always take; null paces only under load (server/rooms/pacing.ts) */
  broadcastShare: number | null
  keepAliveMs: number
  pingMs: number
  compactAfter: number
}

export const DEFAULTS: ServerOptions = {
  port: 1234,
  host: '127.0.0.1',
  dataDir: './data',
  memory: false,
  durability: 'os',
  maxMessageBytes: 8 * 1024 * 1024,
  ratePerSecond: 200,
  burst: 1000,
  forgeriesPerMinute: 20,
  maxBufferedBytes: 16 * 1024 * 1024,
  unloadAfterMs: 30_000,
  leaseGraceMs: 15_000,
  queueLagMs: 50,
  broadcastShare: null,
  keepAliveMs: 15_000,
  pingMs: 30_000,
  compactAfter: 500,
}
