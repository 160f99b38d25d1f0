// Change sets (docs/design.md §12, docs/agents.md): the pure rules. What a proposal may contain,
// which status follows which, and when a guarded document stops one. No I/O here.
import { CHANGESET_STATUSES, type ChangeSetStatus } from '../../shared/changesets.js'
import type { LockHolder } from '../../shared/coordination.js'
import { guardResource } from '../../shared/guard.js'
import { parseRoom, show } from '../../shared/names.js'

export const CHANGESET_LIMITS = {
  docs: 64,
  /** bytes of new text (UTF-8) or decoded updates, over all documents of one change set */
  bytes: 8 * 1024 * 1024,
  title: 200,
  /** characters of JSON of the patches an approval request carries; the whole patch is at GET changesets/<id> */
  approvalPatch: 10_000,
}

/** A refusal with the HTTP status it answers with. */
export class ChangeSetError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 503,
    message: string,
  ) {
    super(message)
  }
}

export function isStatus(value: string): value is ChangeSetStatus {
  return (CHANGESET_STATUSES as readonly string[]).includes(value)
}

/** One document of a proposal: the new text, or a Yjs update (v1) against the current state. */
export type DocChange = { path: string; text: string } | { path: string; update: Uint8Array }

export interface Proposal {
  title: string
  docs: DocChange[]
  approval?: { quorum?: number; approvers?: string[]; expiresInMs?: number }
  /** the proposer's WebSocket session, whose locks do not stop the change set */
  session?: string
}

const NAMING_RULE = "name documents like a/b.md: A-Z, a-z, 0-9, '.', '_' or '-' between slashes"

/** Parses a POST body into a proposal, or says what is wrong and how to fix it. */
export function parseProposal(body: Record<string, unknown>, workspace: string): Proposal | string {
  const { title, docs, approval, session } = body
  if (typeof title !== 'string' || title.trim() === '' || title.length > CHANGESET_LIMITS.title)
    return `send a "title" of 1-${CHANGESET_LIMITS.title} characters saying what the change set does`
  if (typeof docs !== 'object' || docs === null || Array.isArray(docs))
    return 'send "docs": {"<path>": {"text": "<new text>"} | {"update": "<base64 Yjs update>"}}'
  const entries = Object.entries(docs)
  if (entries.length === 0 || entries.length > CHANGESET_LIMITS.docs)
    return `a change set names 1 to ${CHANGESET_LIMITS.docs} documents, not ${entries.length}: split it into several change sets`
  const parsed: DocChange[] = []
  let bytes = 0
  for (const [path, change] of entries) {
    const room = parseRoom(`${workspace}/${path}`)
    if (typeof room === 'string' || room.path !== path) return `bad document path ${show(path)}: ${NAMING_RULE}`
    const one = parseChange(path, change)
    if (typeof one === 'string') return one
    bytes += 'text' in one ? Buffer.byteLength(one.text) : one.update.length
    parsed.push(one)
  }
  if (bytes > CHANGESET_LIMITS.bytes)
    return `the change set holds ${bytes} bytes; the limit is ${CHANGESET_LIMITS.bytes} (8 MiB) in total: split it into several change sets`
  const parsedApproval = parseApproval(approval)
  if (typeof parsedApproval === 'string') return parsedApproval
  if (session !== undefined && (typeof session !== 'string' || session.length === 0 || session.length > 128))
    return '"session" must be your WebSocket session id (the one holding your locks), or left out'
  return {
    title: title.trim(),
    docs: parsed,
    ...(parsedApproval ? { approval: parsedApproval } : {}),
    ...(typeof session === 'string' ? { session } : {}),
  }
}

function parseChange(path: string, change: unknown): DocChange | string {
  const fix = `send docs[${show(path)}] as {"text": "<new text>"} or {"update": "<base64 Yjs update>"}`
  if (typeof change !== 'object' || change === null || Array.isArray(change)) return fix
  const { text, update } = change as Record<string, unknown>
  if (typeof text === 'string' && update === undefined) return { path, text }
  if (typeof update === 'string' && text === undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(update) || update.length === 0) return `docs[${show(path)}].update is not base64: ${fix}`
    return { path, update: new Uint8Array(Buffer.from(update, 'base64')) }
  }
  return fix
}

function parseApproval(approval: unknown): Proposal['approval'] | null | string {
  if (approval === undefined || approval === null || approval === false) return null
  if (approval === true) return {}
  const fix = 'send "approval": {"quorum"?: <n>, "approvers"?: ["<actor or role>", ...], "expiresInMs"?: <ms>} (or true), or leave it out to apply without one'
  if (typeof approval !== 'object' || Array.isArray(approval)) return fix
  const { quorum, approvers, expiresInMs, ...rest } = approval as Record<string, unknown>
  if (Object.keys(rest).length > 0) return `unknown approval field ${show(Object.keys(rest)[0])}: ${fix}`
  if (quorum !== undefined && !Number.isInteger(quorum)) return `approval.quorum must be a whole number: ${fix}`
  if (approvers !== undefined && !(Array.isArray(approvers) && approvers.every((entry) => typeof entry === 'string')))
    return `approval.approvers must be a list of actor ids or role names: ${fix}`
  if (expiresInMs !== undefined && !(Number.isInteger(expiresInMs) && (expiresInMs as number) > 0))
    return `approval.expiresInMs must be a whole number of ms above 0: ${fix}`
  return {
    ...(quorum !== undefined ? { quorum: quorum as number } : {}),
    ...(approvers !== undefined ? { approvers: approvers as string[] } : {}),
    ...(expiresInMs !== undefined ? { expiresInMs: expiresInMs as number } : {}),
  }
}

export type ChangeSetAction = 'apply' | 'approved' | 'rejected' | 'expired' | 'cancel' | 'conflict' | 'revert'

const NEXT: Record<ChangeSetAction, { from: ChangeSetStatus; to: ChangeSetStatus }> = {
  apply: { from: 'pending', to: 'applied' },
  approved: { from: 'pending', to: 'applied' },
  rejected: { from: 'pending', to: 'rejected' },
  expired: { from: 'pending', to: 'expired' },
  cancel: { from: 'pending', to: 'cancelled' },
  conflict: { from: 'pending', to: 'conflict' },
  revert: { from: 'applied', to: 'reverted' },
}

/** The status `action` leads to from `status`, or why it may not happen. */
export function transition(status: ChangeSetStatus, action: ChangeSetAction, id: string): ChangeSetStatus | string {
  const step = NEXT[action]
  if (status === step.from) return step.to
  if (action === 'revert') return `change set ${id} is ${status}; only an applied change set can be reverted`
  return `change set ${id} is already ${status}; propose a new one to change the documents again`
}

/** Who may apply a change set by hand: nobody while it waits for an approval (the server applies it once approved). */
export function manualApplyRefusal(hasApproval: boolean, id: string): string | null {
  return hasApproval ? `change set ${id} waits for its approval; the server applies it once approved (GET changesets/${id} shows its status)` : null
}

/**
 * Why the guards of `paths` stop a change set by `proposer`, or null. A guard held by the
 * proposer's own session (or, when the proposal named no session, by the proposer) does not.
 */
export function guardConflict(
  paths: readonly string[],
  holdersOf: (resource: string) => readonly LockHolder[],
  proposer: { actor: string; session?: string },
): string | null {
  const problems: string[] = []
  for (const path of paths) {
    // A session id is no secret: it only counts together with the proposer's actor.
    const others = holdersOf(guardResource(path)).filter(
      (holder) => holder.actor !== proposer.actor || (proposer.session !== undefined && holder.session !== proposer.session),
    )
    if (others.length > 0) problems.push(`${guardResource(path)} is locked by ${[...new Set(others.map((holder) => holder.actor))].join(', ')}`)
  }
  return problems.length === 0 ? null : `${problems.join('; ')}: wait for the lock to be released (or ask its holder), then propose the change set again`
}
