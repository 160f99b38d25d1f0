// Shape and size checks for the values clients write into the coordination document. Each check
// returns null when the value is fine, else a message saying what to fix. Unknown fields are
// refused so a typo (`ttl` for `ttlMs`) fails loudly instead of being silently ignored.
import type { ApprovalCancel, ApprovalRequest, ApprovalVote, ClaimValue } from './coordination.js'
import { MAX_CLAIM_RESOURCES, splitOwnedKey } from './coordination.js'
import { checkActor, checkResource, show } from './names.js'
import { isRole } from './roles.js'

export { show }

export const LIMITS = {
  /** claim and approval ids, the part of the key after `<sessionId>:` */
  id: 128,
  note: 500,
  title: 200,
  action: 200,
  reason: 1000,
  /** characters of `JSON.stringify(details)` */
  details: 16_384,
  approvers: 32,
  quorum: 32,
} as const

const ID_RE = new RegExp(`^[A-Za-z0-9._-]{1,${LIMITS.id}}$`)

type Problem = string | null
type Fields = Record<string, unknown>

/** Parses a `<sessionId>:<id>` key of `claims` or `approvals`. */
export function parseOwnedKey(key: string): { session: string; id: string } | string {
  const parts = splitOwnedKey(key)
  if (!parts) return `bad key ${show(key)}: use <sessionId>:<id>`
  const badId = checkId(parts.id)
  return badId ? `${badId} in key ${show(key)}` : parts
}

/** A claim or approval id, the part of a key after `<sessionId>:`. */
export function checkId(id: unknown): Problem {
  if (typeof id === 'string' && ID_RE.test(id)) return null
  return `bad id ${show(id)}: use 1-${LIMITS.id} characters of A-Z, a-z, 0-9, '.', '_' or '-'`
}

export function parseClaimValue(value: unknown): ClaimValue | string {
  return parse(
    'claim',
    value,
    ['resources', 'mode', 'waitMs', 'ttlMs', 'note'],
    (v) =>
      checkResources(v.resources) ??
      (v.mode === 'exclusive' || v.mode === 'shared' ? null : `claim mode must be "exclusive" or "shared", not ${show(v.mode)}`) ??
      duration('waitMs', v.waitMs) ??
      duration('ttlMs', v.ttlMs) ??
      text('note', v.note, LIMITS.note, false),
  )
}

export function parseRequest(value: unknown): ApprovalRequest | string {
  const known = ['title', 'action', 'details', 'requester', 'approvers', 'quorum', 'allowSelfApproval', 'expiresAt']
  return parse(
    'approval request',
    value,
    known,
    (v) =>
      text('title', v.title, LIMITS.title, true) ??
      text('action', v.action, LIMITS.action, true) ??
      checkDetails(v.details) ??
      prefixed('requester', checkActor(v.requester)) ??
      checkApprovers(v.approvers, v.quorum) ??
      (v.allowSelfApproval === undefined || typeof v.allowSelfApproval === 'boolean' ? null : 'allowSelfApproval must be true or false') ??
      (v.expiresAt === undefined || isTime(v.expiresAt) ? null : 'expiresAt must be a time in ms since the epoch'),
  )
}

export function parseVote(value: unknown): ApprovalVote | string {
  return parse(
    'vote',
    value,
    ['decision', 'reason', 'at'],
    (v) =>
      (v.decision === 'approve' || v.decision === 'reject' ? null : `vote decision must be "approve" or "reject", not ${show(v.decision)}`) ??
      text('reason', v.reason, LIMITS.reason, false) ??
      (isTime(v.at) ? null : 'vote at must be a time in ms since the epoch'),
  )
}

export function parseCancel(value: unknown): ApprovalCancel | string {
  return parse(
    'cancel',
    value,
    ['reason', 'at'],
    (v) => text('reason', v.reason, LIMITS.reason, false) ?? (isTime(v.at) ? null : 'cancel at must be a time in ms since the epoch'),
  )
}

/** The message of a parse result, or null when it parsed. */
export function problemOf(parsed: object | string): Problem {
  return typeof parsed === 'string' ? parsed : null
}

/**
 * Checks `value` and returns a deep JSON copy of it: a stored value then never shares objects
 * with the caller nor carries `undefined`, which a JSON round trip of the log would drop.
 */
function parse<T>(what: string, value: unknown, known: string[], check: (v: Fields) => Problem): T | string {
  if (!isPlainObject(value)) return `${what} must be a JSON object`
  const unknown = Object.keys(value).filter((k) => !known.includes(k))
  if (unknown.length > 0) return `unknown ${what} field ${show(unknown[0])}; known fields: ${known.join(', ')}`
  const problem = check(value)
  if (problem) return problem
  return JSON.parse(JSON.stringify(value)) as T
}

function checkResources(resources: unknown): Problem {
  if (!Array.isArray(resources) || resources.length < 1 || resources.length > MAX_CLAIM_RESOURCES) {
    return `claim resources must be an array of 1-${MAX_CLAIM_RESOURCES} resource names`
  }
  for (const resource of resources) {
    const problem = checkResource(resource)
    if (problem) return problem
  }
  if (new Set(resources).size !== resources.length) return 'claim resources must not repeat a resource'
  return null
}

function checkDetails(details: unknown): Problem {
  if (details === undefined) return null
  let json: string | undefined
  try {
    json = JSON.stringify(details)
  } catch {
    json = undefined
  }
  if (json === undefined) return 'details must be a JSON value'
  if (json.length > LIMITS.details) return `details are ${json.length} characters of JSON; the limit is ${LIMITS.details}`
  return null
}

function checkApprovers(approvers: unknown, quorum: unknown): Problem {
  if (quorum !== undefined && !(Number.isInteger(quorum) && (quorum as number) >= 1 && (quorum as number) <= LIMITS.quorum)) {
    return `quorum must be a whole number from 1 to ${LIMITS.quorum}`
  }
  if (approvers === undefined) return null
  if (!Array.isArray(approvers) || approvers.length < 1 || approvers.length > LIMITS.approvers) {
    return `approvers must be an array of 1-${LIMITS.approvers} actor ids or role names (omit it to let every approver vote)`
  }
  for (const entry of approvers) {
    const problem = prefixed('approvers', checkActor(entry))
    if (problem) return problem
  }
  if (new Set(approvers).size !== approvers.length) return 'approvers must not repeat an entry'
  // Only actor ids listed: the quorum can never be reached with fewer of them.
  if (!approvers.some(isRole) && typeof quorum === 'number' && quorum > approvers.length) {
    return `quorum ${quorum} can never be reached by ${approvers.length} listed approver(s)`
  }
  return null
}

function prefixed(name: string, problem: Problem): Problem {
  return problem && `${name}: ${problem}`
}

function text(name: string, value: unknown, max: number, required: boolean): Problem {
  if (value === undefined && !required) return null
  if (typeof value !== 'string' || (required && value.length === 0)) return `${name} must be a ${required ? 'non-empty ' : ''}string`
  if (value.length > max) return `${name} is ${value.length} characters long; the limit is ${max}`
  return null
}

function duration(name: string, value: unknown): Problem {
  if (value === undefined) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `${name} must be a non-negative number of milliseconds`
  return null
}

function isTime(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value)
}

function isPlainObject(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
