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
  /** the share of a core one room's broadcasts may always take; null paces only under load (server/rooms/pacing.ts) */
  broadcastShare: number | null
  /** WebSocket connections (admitted or being admitted) above which new ones get 1013 */
  maxConnections: number
  /** wrong share-link passwords per link and per client address in a minute before 429 */
  linkAttemptsPerMinute: number
  keepAliveMs: number
  pingMs: number
  compactAfter: number
  /** webhooks may go to loopback and private addresses (tests, local setups) */
  webhooksAllowPrivate: boolean
  /** multiplies the webhook retry schedule and the failing-for-a-day limit (tests: e.g. 0.001) */
  webhooksRetryScale: number
  /** a webhook receiver that has not answered after this long has failed the attempt */
  webhooksTimeoutMs: number
  /** a claim queued this long is reported (`lock-waiting` audit entry, `lock.waiting` event) */
  lockWaitingMs: number
  /** the dashboard's address as people reach it, for links in Slack messages (default: http://host:port) */
  publicUrl: string | null
  /** cluster mode: the Redis every node shares (null: one node on LevelDB, the default) */
  redis: string | null
  /** cluster mode: this node's name in `huddle cluster status` and the logs */
  nodeId: string
  /** cluster mode: a room's owner holds it this long without renewing (how long a dead owner's rooms wait) */
  ownerLeaseMs: number
  /** cluster mode: the URL other nodes reach this one at (default http://<host>:<port>) */
  advertise: string | null
  /** document history (server/history): attribution, versions, diff, blame, revert */
  history: boolean
  /** a changed document gets a version after this long without changes ... */
  historyQuietMs: number
  /** ... or this long into continuous editing */
  historyMaxMs: number
  /** retention: every version this long, then one per hour until historyHourlyMs, then one per day */
  historyKeepAllMs: number
  historyHourlyMs: number
  /** how often retention is applied to every document in the background */
  historySweepMs: number
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
  broadcastShare: null,
  maxConnections: 20_000,
  linkAttemptsPerMinute: 5,
  keepAliveMs: 15_000,
  pingMs: 30_000,
  compactAfter: 500,
  webhooksAllowPrivate: false,
  webhooksRetryScale: 1,
  webhooksTimeoutMs: 15_000,
  lockWaitingMs: 60_000,
  publicUrl: null,
  redis: null,
  nodeId: '',
  ownerLeaseMs: 8_000,
  advertise: null,
  history: true,
  historyQuietMs: 30_000,
  historyMaxMs: 5 * 60_000,
  historyKeepAllMs: 7 * 24 * 3_600_000,
  historyHourlyMs: 30 * 24 * 3_600_000,
  historySweepMs: 3_600_000,
}
