// Lock-only connections (docs/design.md §4): an agent that only takes locks opens the workspace
// room with `?locks-only=1` and does not replicate the coordination document. A full replica
// applies every update of every other agent's claims; with 100 agents on one lock that work, not
// the server, bounds the handoff rate. A lock-only connection instead sends requests and gets
// notices about its own claims, in one more y-websocket message type carrying JSON. The server
// writes the claims into the document for its session (the session never writes them itself, so
// each key keeps exactly one writer), judged by the same authority as any client write.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { ClaimValue, OutcomeValue } from './coordination.js'
import { checkId, parseClaimValue, show } from './values.js'

/** the message type after y-websocket's 0-3 */
export const LOCK_MESSAGE = 100
/** the URL parameter that makes a connection lock-only */
export const LOCKS_ONLY_PARAM = 'locks-only'
/** claims one `resume` may ask about: each gets its own answer, so this bounds what one message costs */
export const MAX_RESUME_IDS = 100

/** Client → server. `id` is the claim id: the key is `<session>:<id>`. */
export type LockRequest =
  /** writes the claim; an id already claimed is answered with where it stands */
  | { op: 'acquire'; id: string; claim: ClaimValue }
  /** deletes the claim: releases a held lock, withdraws a waiting claim, tidies after an outcome */
  | { op: 'release'; id: string }
  /** after a reconnect: where each claim stands (an outcome, `queued`, or `released` when gone) */
  | { op: 'resume'; ids: string[] }
  /** answered with `pong`: the first tells the server's lease grace, the next keep a quiet connection fresh */
  | { op: 'ping' }

/** Server → client, each sent only once what it reports is on disk. */
export type LockNotice =
  /** the claim's outcome was written (granted, timeout, expired, revoked, invalid) */
  | { op: 'outcome'; id: string; outcome: OutcomeValue; expiresAt?: number }
  /** the claim is in the document, waiting */
  | { op: 'queued'; id: string }
  /** the claim is not (or no longer) in the document */
  | { op: 'released'; id: string }
  /** the authority refused the claim; nothing of it was kept */
  | { op: 'refused'; id: string; reason: string }
  /** `leaseGraceMs`: how long the server keeps a disconnected session's locks */
  | { op: 'pong'; leaseGraceMs: number }

export function encodeLockMessage(message: LockRequest | LockNotice): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, LOCK_MESSAGE)
  encoding.writeVarString(encoder, JSON.stringify(message))
  return encoding.toUint8Array(encoder)
}

/** The JSON text of a lock message whose type was read already; throws on truncated input. */
export function readLockMessage(decoder: decoding.Decoder): unknown {
  const text = decoding.readVarString(decoder)
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Checks a request from a client; a string says what is wrong with it. */
export function parseLockRequest(value: unknown): LockRequest | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a lock request must be a JSON object with an "op"'
  const request = value as Record<string, unknown>
  const fields = (...names: string[]) => {
    const extra = Object.keys(request).find((key) => !names.includes(key))
    return extra === undefined ? null : `unknown field ${show(extra)} in a lock request "${String(request.op)}"; known: ${names.join(', ')}`
  }
  switch (request.op) {
    case 'acquire': {
      const problem = fields('op', 'id', 'claim') ?? checkId(request.id)
      if (problem) return problem
      const claim = parseClaimValue(request.claim)
      return typeof claim === 'string' ? claim : { op: 'acquire', id: request.id as string, claim }
    }
    case 'release': {
      const problem = fields('op', 'id') ?? checkId(request.id)
      return problem ?? { op: 'release', id: request.id as string }
    }
    case 'resume': {
      const problem = fields('op', 'ids')
      if (problem) return problem
      const ids = request.ids
      if (!Array.isArray(ids) || ids.length > MAX_RESUME_IDS) return `resume needs "ids": an array of at most ${MAX_RESUME_IDS} claim ids`
      for (const id of ids) {
        const bad = checkId(id)
        if (bad) return bad
      }
      return { op: 'resume', ids: ids as string[] }
    }
    case 'ping':
      return fields('op') ?? { op: 'ping' }
    default:
      return `unknown lock request op ${show(request.op)}: use acquire, release, resume or ping`
  }
}
