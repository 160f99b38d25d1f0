// Key layout of the LevelDB (keys are utf8 strings, values raw bytes):
//
//   doc!<name>!log!<seq>   one Yjs update (v1) as received; <seq> is 16 lower-case hex digits so
//                          lexicographic order is append order
//   doc!<name>!state       the compacted state: state + merged log entries as one update
//   doc!<name>!sv          the state vector of `state`, so sync can start without loading the doc
//
// <name> is a room name ([A-Za-z0-9._/-], never '!'), so `doc!<name>!` never prefixes another
// document's keys, and within a document 'log!…' < 'state' < 'sv' sorts the log before the state:
// one iterator from the first log key up to `state` reads log and state from one snapshot.
// Every other prefix (audit!, session!, meta!, ...) belongs to callers of Store.put/get.

const SEQ_DIGITS = 16
const DOC_NAME_RE = /^[A-Za-z0-9._/-]+$/

export function docNameError(name: string): Error | null {
  if (DOC_NAME_RE.test(name)) return null
  return new Error(`huddle store: bad document name ${JSON.stringify(name)}: use only A-Z, a-z, 0-9, '.', '_', '/' or '-'`)
}

/** Keys under `doc!` are the store's own: a caller writing there could corrupt a document. */
export function isDocKey(key: string): boolean {
  return key.startsWith('doc!')
}

export function logKey(name: string, seq: number): string {
  return `doc!${name}!log!${seq.toString(16).padStart(SEQ_DIGITS, '0')}`
}

export function seqOfLogKey(key: string): number {
  return parseInt(key.slice(-SEQ_DIGITS), 16)
}

export function stateKey(name: string): string {
  return `doc!${name}!state`
}

export function svKey(name: string): string {
  return `doc!${name}!sv`
}

/**
 * The range holding a document's log entries from seq `from` on, followed by its compacted state.
 * Starting at the first live entry matters: LevelDB walks over the deletion marker of every entry
 * a compaction removed until its own compaction drops them, so reading from the log's start cost
 * up to 4x as much after a few dozen compactions.
 */
export function logAndStateRange(name: string, from = 0): { gte: string; lte: string } {
  return { gte: from > 0 ? logKey(name, from) : `doc!${name}!log!`, lte: stateKey(name) }
}

// Webhooks (server/webhooks/): an endpoint with its delivery state, and its delivery log.
//   webhook!<workspace>!<id>                JSON endpoint: settings, cursor (last audit seq handled)
//   webhook-log!<workspace>!<id>!<seq>      JSON record of one delivery attempt (<seq> 16 hex digits)

export function webhookKey(workspace: string, id: string): string {
  return `webhook!${workspace}!${id}`
}

export function webhookLogKey(workspace: string, id: string, seq: number): string {
  return `webhook-log!${workspace}!${id}!${seq.toString(16).padStart(SEQ_DIGITS, '0')}`
}

/** The range of every key under `prefix` (which ends in '!'). */
export function prefixRange(prefix: string): { gt: string; lt: string } {
  return { gt: prefix, lt: `${prefix}~` }
}

// Change sets (server/documents/changesets.ts): one JSON record each.
//   changeset!<workspace>!<id>

export function changesetKey(workspace: string, id: string): string {
  return `changeset!${workspace}!${id}`
}
