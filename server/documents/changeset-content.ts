// Change sets (docs/design.md §12): what a proposal stores for each document and what approvers
// see, computed from document states and texts alone.
import { applyPatch, createPatch } from 'diff'
import * as Y from 'yjs'
import { replaceText } from '../../shared/text-edit.js'
import { LIMITS } from '../../shared/values.js'
import { type ChangeSetRecord, patchOf, type StoredDoc } from './changeset-records.js'
import { CHANGESET_LIMITS, ChangeSetError, type DocChange } from './changeset-rules.js'

/** The shared type a change set edits: the one the dashboard editor binds. */
export const BODY = 'body'

/** A proposed document: its text in `state`, its new text, and the change between as a Yjs update (which merges when applied later). */
export function storedDoc(state: Uint8Array, change: DocChange): StoredDoc {
  const copy = new Y.Doc()
  try {
    Y.applyUpdate(copy, state)
    const base = copy.getText(BODY).toString()
    const vector = Y.encodeStateVector(copy)
    if ('text' in change) replaceText(copy.getText(BODY), change.text)
    else applyClientUpdate(copy, change)
    return { path: change.path, base, target: copy.getText(BODY).toString(), change: Buffer.from(Y.encodeStateAsUpdate(copy, vector)).toString('base64') }
  } finally {
    copy.destroy()
  }
}

function applyClientUpdate(copy: Y.Doc, change: DocChange & { update: Uint8Array }): void {
  try {
    Y.applyUpdate(copy, change.update)
  } catch (error) {
    throw new ChangeSetError(400, `docs[${JSON.stringify(change.path)}].update is not a Yjs update (${(error as Error).message}): send {"text": ...} instead`)
  }
  if (copy.store.pendingStructs || copy.store.pendingDs)
    throw new ChangeSetError(
      400,
      `docs[${JSON.stringify(change.path)}].update depends on changes the document does not have: make it against the current state (or send {"text": ...})`,
    )
}

/** The text with the change set taken out again, or null when later edits overlap it. */
export function revertedText(doc: StoredDoc, current: string): string | null {
  const before = doc.before ?? doc.base
  const after = doc.after ?? doc.target
  if (current === after) return before
  const result = applyPatch(current, createPatch(doc.path, after, before))
  return result === false ? null : result
}

/** What approvers see in the request: the change set's id and each document's patch, as far as the request's size allows. */
export function approvalDetails(record: ChangeSetRecord) {
  let budget = CHANGESET_LIMITS.approvalPatch
  const documents = record.docs.map((doc) => {
    const patch = patchOf(doc)
    const shown = patch.slice(0, Math.max(0, budget))
    budget -= JSON.stringify(shown).length
    return { path: doc.path, patch: shown, ...(shown.length < patch.length ? { truncated: true } : {}) }
  })
  const details = { changeset: record.id, documents }
  return JSON.stringify(details).length <= LIMITS.details
    ? details
    : { changeset: record.id, documents: documents.map((doc) => ({ path: doc.path, truncated: true })) }
}
