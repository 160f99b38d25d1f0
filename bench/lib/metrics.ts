// What each benchmark metric is called, how many digits it is shown with, whether it belongs in
// the ratio table and which direction is better; and how a value of one is printed.

export interface MetricInfo {
  label: string
  digits: number
  /** shown in the ratio table (others only in the Markdown detail) */
  key?: boolean
  /** better when higher */
  higher?: boolean
}

export const METRICS: Record<string, MetricInfo> = {
  p50: { label: 'p50 latency (ms)', digits: 1, key: true },
  p95: { label: 'p95 latency (ms)', digits: 1 },
  p99: { label: 'p99 latency (ms)', digits: 1, key: true },
  cpuPerMessageUs: { label: 'server CPU per delivered message (µs)', digits: 2, key: true },
  cpuUtilization: { label: 'server CPU (cores busy)', digits: 2 },
  systemShare: { label: 'share of server CPU in the kernel', digits: 2 },
  delivered: { label: 'delivered (fraction of expected)', digits: 3, key: true },
  deliveries: { label: 'deliveries', digits: 0 },
  rssPerConnectionKb: { label: 'RSS per connection (KB)', digits: 1, key: true },
  peakRssMb: { label: 'peak RSS (MB)', digits: 0, key: true },
  allSyncedMs: { label: 'time until all synced (ms)', digits: 0, key: true },
  cpuPerClientMs: { label: 'server CPU per client (ms)', digits: 2, key: true },
  bytesPerClient: { label: 'sync step 2 per client (bytes)', digits: 0 },
  cpuPerMoveUs: { label: 'server CPU per cursor move (µs)', digits: 1, key: true },
  moves: { label: 'cursor moves', digits: 0 },
  rttP50: { label: 'acquire→grant p50 (ms)', digits: 2, key: true },
  rttP99: { label: 'acquire→grant p99 (ms)', digits: 2, key: true },
  handoffP50: { label: 'handoff release→next grant p50 (ms)', digits: 2, key: true },
  handoffP99: { label: 'handoff release→next grant p99 (ms)', digits: 2, key: true },
  grantsPerSecond: { label: 'grants per second', digits: 0, key: true, higher: true },
  updatesPerSecond: { label: 'updates per second (acknowledged)', digits: 0, key: true, higher: true },
  cpuPerUpdateUs: { label: 'server CPU per update (µs)', digits: 1, key: true },
  coldLoadMs: { label: 'cold load (ms)', digits: 0, key: true },
  storedBytes: { label: 'on disk (bytes)', digits: 0 },
  warmLoadMs: { label: 'load when already in memory (ms)', digits: 1 },
  syncBytes: { label: 'state sent (bytes)', digits: 0 },
  medianSyncedMs: { label: 'median client synced after (ms)', digits: 0 },
  rssGrowthMb: { label: 'RSS growth during the storm (MB)', digits: 0 },
  failed: { label: 'clients that failed', digits: 0 },
  grants: { label: 'grants', digits: 0 },
  bytesSentPerGrant: { label: 'bytes sent to clients per grant (all sockets)', digits: 0 },
  cpuPerGrantUs: { label: 'server CPU per grant (µs)', digits: 0 },
  failoverMs: { label: 'until another node owns the workspace (ms)', digits: 0, key: true },
  diskAfterEditsBytes: { label: 'data directory after the 10,000 edits (bytes)', digits: 0, key: true },
  historyCpuRatio: { label: 'server CPU per update, history on / off', digits: 3, key: true },
  attributionBytes: { label: 'attribution stored (bytes, after its compaction)', digits: 0, key: true },
  attributionRecords: { label: 'attribution records (after compaction)', digits: 0 },
  bytesPerVersion: { label: 'one version stored (bytes: state and metadata)', digits: 0 },
  listVersionsMs: { label: 'list 50 versions (ms)', digits: 1, key: true },
  blameMs: { label: 'blame of the 1 MB text (ms)', digits: 0, key: true },
  blameTextBytes: { label: 'blamed text (characters)', digits: 0 },
}

/** A metric's value with its digits, or a dash for none. */
export function fmt(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
