// Who may write which key of the coordination document (docs/design.md §4): every key has exactly one
// writer, named by the key itself. These checks need only the write itself; rules that depend
// on the current state (a vote on a decided approval, a cancel by someone other than the
// requester, a reused claim key) are refused by `reduce`.
import { APPROVAL_FIELDS, COORD, COORDINATION_TYPES, SERVER_ONLY_TYPES, VOTE_PREFIX, voteField, voterOf } from '../../../shared/coordination.js'
import { canVote, roleAtLeast } from '../../../shared/roles.js'
import type { Principal } from './state.js'
import { parseCancel, parseClaimValue, parseOwnedKey, parseRequest, parseVote, problemOf, show } from '../../../shared/values.js'

/** Stands for a Y.Map value: the glue passes it instead of the Yjs object. */
export const Y_MAP: unique symbol = Symbol('Y.Map')
/** Stands for any other Yjs shared type (Y.Array, Y.Text, …), which no key accepts. */
export const Y_TYPE: unique symbol = Symbol('Y.AbstractType')

export interface WriteCheck {
  /** the top-level type written to */
  type: string
  key: string
  /** the key inside an approval's Y.Map */
  subKey?: string
  /** plain JSON, `Y_MAP`/`Y_TYPE`, or undefined when absent */
  before: unknown
  /** plain JSON, `Y_MAP`/`Y_TYPE`, or undefined when deleted */
  after: unknown
  writer: Principal
}

/** Null when `writer` may make this change, else the reason it is refused. */
export function checkWrite(write: WriteCheck): string | null {
  const { type, writer } = write
  if (!(COORDINATION_TYPES as readonly string[]).includes(type)) {
    return `unknown top-level type ${show(type)}: the coordination document has only ${COORDINATION_TYPES.join(', ')}`
  }
  if ((SERVER_ONLY_TYPES as readonly string[]).includes(type)) return `${type} is written by the server only`
  if (!roleAtLeast(writer.role, 'editor')) return `${writer.actor} is a viewer; viewers cannot write to the coordination document`
  if (write.before === undefined && write.after === undefined) return null
  return type === COORD.claims ? checkClaimWrite(write) : checkApprovalWrite(write)
}

function checkClaimWrite(write: WriteCheck): string | null {
  if (write.subKey !== undefined) return 'claims hold plain JSON values, not maps'
  const notOwn = checkOwner(write)
  if (notOwn) return notOwn
  if (write.after === undefined) return null
  if (write.before !== undefined) return `claim ${show(write.key)} is set once; delete it and claim again under a new id`
  return problemOf(parseClaimValue(write.after))
}

function checkApprovalWrite(write: WriteCheck): string | null {
  const { subKey } = write
  const parts = parseOwnedKey(write.key)
  if (typeof parts === 'string') return parts
  if (subKey === undefined) return checkApprovalMap(write)
  if (subKey === APPROVAL_FIELDS.request) return checkRequestWrite(write)
  if (subKey === APPROVAL_FIELDS.cancel) return checkCancelWrite(write)
  if (subKey === APPROVAL_FIELDS.status) return 'approval status is written by the server only'
  const voter = voterOf(subKey)
  if (voter !== null) return checkVoteWrite(write, voter)
  return `unknown approval field ${show(subKey)}: clients write request, ${VOTE_PREFIX}<actorId> or cancel`
}

function checkApprovalMap(write: WriteCheck): string | null {
  const notOwn = checkOwner(write)
  if (notOwn) return notOwn
  if (write.before !== undefined) return `approval ${show(write.key)} is kept for the record: it cannot be replaced or deleted (cancel it instead)`
  if (write.after !== Y_MAP) return `approval ${show(write.key)} must be a Y.Map holding request, vote:<actorId>, cancel and status`
  return null
}

function checkRequestWrite(write: WriteCheck): string | null {
  const notOwn = checkOwner(write)
  if (notOwn) return notOwn
  if (write.before !== undefined) return `the request of approval ${show(write.key)} is written once`
  const request = parseRequest(write.after)
  if (typeof request === 'string') return request
  if (request.requester !== write.writer.actor) return `requester must be you (${write.writer.actor}), not ${show(request.requester)}`
  return null
}

function checkVoteWrite(write: WriteCheck, actor: string): string | null {
  const { writer } = write
  if (actor !== writer.actor) return `${voteField(actor)} can only be written by ${show(actor)}; you are ${writer.actor}`
  if (writer.kind !== 'human') return `${writer.actor} is an agent: only humans vote`
  if (!canVote(writer)) return `${writer.actor} has role ${writer.role}: voting needs role approver or admin`
  if (write.before !== undefined) return `votes are final: ${writer.actor} already voted on ${show(write.key)}`
  return problemOf(parseVote(write.after))
}

function checkCancelWrite(write: WriteCheck): string | null {
  if (write.before !== undefined) return `approval ${show(write.key)} is already cancelled`
  return problemOf(parseCancel(write.after))
}

function checkOwner(write: WriteCheck): string | null {
  const parts = parseOwnedKey(write.key)
  if (typeof parts === 'string') return parts
  if (parts.session !== write.writer.session) {
    return `${write.type} key ${show(write.key)} belongs to another session: write only keys starting with your session id and ':'`
  }
  return null
}
