// Change set records in the store (`changeset!<workspace>!<id>`, server/store/keys.ts) and the
// view of one that the REST API answers with.
import { createTwoFilesPatch } from 'diff'
import type { ChangeSetStatus } from '../../shared/changesets.js'
import type { Kind, Role } from '../../shared/roles.js'
import { changesetKey, prefixRange } from '../store/keys.js'
import type { Storage } from '../store/storage.js'

export interface StoredDoc {
  path: string
  /** the document's text when the change set was proposed */
  base: string
  /** its text with the change set */
  target: string
  /** the change as a Yjs update (base64) against the proposal's state: applying it merges */
  change: string
  /** at apply: the texts just before and after, and whether `before` differed from `base` (someone edited since) */
  before?: string
  after?: string
  moved?: boolean
}

export interface ChangeSetRecord {
  id: string
  workspace: string
  title: string
  status: ChangeSetStatus
  createdAt: number
  updatedAt: number
  proposer: { actor: string; name: string; kind: Kind; role: Role; session?: string }
  docs: StoredDoc[]
  /** the approval request's key in the coordination document's `approvals` */
  approval?: { key: string; quorum?: number; approvers?: string[] }
  /** why it is rejected, expired, cancelled or in conflict */
  reason?: string
  /** who applied, cancelled or reverted it, and when */
  by?: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function writeRecord(store: Storage, record: ChangeSetRecord): Promise<void> {
  return store.put(changesetKey(record.workspace, record.id), encoder.encode(JSON.stringify(record)))
}

export async function readRecord(store: Storage, workspace: string, id: string): Promise<ChangeSetRecord | undefined> {
  const value = await store.get(changesetKey(workspace, id))
  return value ? (JSON.parse(decoder.decode(value)) as ChangeSetRecord) : undefined
}

export async function listRecords(store: Storage, workspace: string): Promise<ChangeSetRecord[]> {
  const rows = await store.readRange(prefixRange(changesetKey(workspace, '')))
  return rows.map(([, value]) => JSON.parse(decoder.decode(value)) as ChangeSetRecord)
}

/** The unified diff of one document, from the text it was proposed against (what approvers approve). */
export function patchOf(doc: Pick<StoredDoc, 'path' | 'base' | 'target'>): string {
  return createTwoFilesPatch(doc.path, doc.path, doc.base, doc.target, 'proposed against', 'change set')
}

/** What GET changesets/<id> answers: no stored texts, a patch per document. */
export function publicView(record: ChangeSetRecord, withPatches = true) {
  return {
    id: record.id,
    title: record.title,
    status: record.status,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    proposer: { actor: record.proposer.actor, name: record.proposer.name, kind: record.proposer.kind },
    docs: Object.fromEntries(record.docs.map((doc) => [doc.path, { ...(withPatches ? { patch: patchOf(doc) } : {}), ...(doc.moved ? { moved: true } : {}) }])),
    ...(record.docs.some((doc) => doc.moved) ? { moved: record.docs.filter((doc) => doc.moved).map((doc) => doc.path) } : {}),
    ...(record.approval ? { approval: record.approval } : {}),
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.by ? { by: record.by } : {}),
  }
}
