// The history API's wire types (docs/design.md, history), written once: the server builds them,
// the client library and the dashboard read them, so the three cannot drift apart.

export interface VersionActor {
  id: string
  name: string
  /** human, agent, or server for writes the server made itself */
  kind: string
}

export interface VersionInfo {
  id: number
  /** ms since the epoch */
  at: number
  label?: string
  /** auto (quiet or long editing), label, before-revert, before-changeset or revert */
  reason: string
  /** who changed the document since the previous version */
  actors: VersionActor[]
  bytes: number
  /** for a revert: the version it restored */
  restored?: number
}

export interface VersionContent {
  id: number
  at: number
  label?: string
  /** the document's text (`body`, or its only text) */
  text?: string
  /** every top-level type as JSON; texts and XML as strings */
  json: Record<string, unknown>
}

/** `from`/`to` of a diff: a version id or the document as it is now. */
export type Point = number | 'current'

export interface DiffWord {
  value: string
  added?: boolean
  removed?: boolean
}

export interface DiffChange {
  /** the top-level type */
  name: string
  kind: 'text' | 'map' | 'array' | 'xml'
  op: 'added' | 'removed' | 'changed'
  /** text: the first line in the newer state (removed lines: where they were, 1-based) */
  line?: number
  key?: string
  index?: number
  before?: unknown
  after?: unknown
  /** text: the changed line(s) word by word */
  words?: DiffWord[]
  /** who made the change, where the server's attribution knows it */
  actors: string[]
}

export interface DocDiff {
  from: Point
  to: Point
  /** unified diff of the texts */
  patch: string
  changes: DiffChange[]
}

export interface BlameLine {
  text: string
  /** the last writer of the line; null for text written before history was kept */
  actor: string | null
  name?: string
  kind?: string
  at: number | null
  /** the first version holding that write; null while no version has it yet */
  version: number | null
}

/** The last write to a document, from the server's attribution. */
export interface EditInfo {
  actor: string
  name?: string
  kind?: string
  at: number
}

export interface LastEdit {
  path: string
  lastEdit: EditInfo | null
}
