// The diff of a change set inside its approval card (docs/agents.md, change sets): the server puts
// `{changeset, documents: [{path, patch, truncated?}]}` in the request's details, so the approver
// sees, line by line, what lands once they approve.
import { h } from '../dom.js'

export interface ChangeSetDetails {
  changeset: string
  documents: Array<{ path: string; patch?: string; truncated?: boolean }>
}

/** The details of a change set's approval request, or null for any other request. */
export function changeSetDetails(action: string, details: unknown): ChangeSetDetails | null {
  if (action !== 'changeset.apply' || typeof details !== 'object' || details === null) return null
  const { changeset, documents } = details as Record<string, unknown>
  if (typeof changeset !== 'string' || !Array.isArray(documents)) return null
  const valid = documents.every(
    (doc) => typeof doc === 'object' && doc !== null && typeof doc.path === 'string' && (doc.patch === undefined || typeof doc.patch === 'string'),
  )
  return valid ? { changeset, documents } : null
}

export function changeSetDiff(details: ChangeSetDetails): HTMLElement {
  return h(
    'div',
    { class: 'changeset-diff', 'data-changeset': details.changeset },
    h(
      'p',
      { class: 'muted' },
      `Change set ${details.changeset}: ${details.documents.length} document${details.documents.length === 1 ? '' : 's'}, applied together once approved.`,
    ),
    details.documents.map((doc) =>
      h(
        'section',
        { class: 'changeset-doc', 'data-path': doc.path },
        h('h4', null, doc.path),
        doc.patch === undefined ? null : h('pre', { class: 'diff-text' }, patchLines(doc.patch)),
        doc.truncated ? h('p', { class: 'muted' }, 'The diff is cut here; the whole change set is at GET /api/workspaces/<ws>/changesets/<id>.') : null,
      ),
    ),
  )
}

/** The patch's hunks, added lines as <ins> and removed ones as <del> (its file header left out). */
function patchLines(patch: string): Array<HTMLElement | string> {
  const lines = patch.trimEnd().split('\n')
  const start = lines.findIndex((line) => line.startsWith('@@'))
  return (start < 0 ? [] : lines.slice(start)).map((line) => {
    if (line.startsWith('+')) return h('ins', null, `${line}\n`)
    if (line.startsWith('-')) return h('del', null, `${line}\n`)
    return `${line}\n`
  })
}
