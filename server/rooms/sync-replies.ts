// Replies to sync step 1 for one room, cached by state vector until the document changes, and the
// room's own sync step 1. A connect storm on a large document would otherwise re-encode the whole
// state once per client (most joining clients send the same, empty, state vector). A reply that
// is not cached costs an encoding of the document, so each connection gets a budget of them:
// random state vectors cannot keep the server encoding.
import * as Y from 'yjs'
import { TokenBucket } from '../net/rate-limit.js'
import { type PreparedFrame, prepareFrame } from '../protocol/frame.js'
import { encodeSyncStep1, encodeSyncStep2, ProtocolError } from '../protocol/messages.js'

/** cached replies per room (by state vector), dropped on every change */
const CACHE_SIZE = 8
/**
 * Uncached replies a connection may ask for at once, and per second after that. A client asks
 * once when it connects and again for each round trip it wants confirmed (client-lib's
 * `roundTrip`, heartbeats every few seconds), each with a new state vector when it wrote meanwhile.
 */
export const UNCACHED_BURST = 20
export const UNCACHED_PER_SECOND = 2

/** A connection over its budget of uncached replies. */
export class SyncBudgetExceeded extends Error {}

export class SyncReplies {
  private readonly replies = new Map<string, PreparedFrame>()
  private own: PreparedFrame | null = null
  private readonly budgets = new WeakMap<object, TokenBucket>()

  constructor(private readonly doc: Y.Doc) {}

  /** The room's sync step 1 (its state vector). */
  step1(): PreparedFrame {
    this.own ??= prepareFrame(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    return this.own
  }

  /**
   * The reply to `asker`'s sync step 1. Throws ProtocolError for a malformed state vector and
   * SyncBudgetExceeded when the asker has used up its uncached replies.
   */
  replyTo(asker: object, stateVector: Uint8Array): PreparedFrame {
    const key = Buffer.from(stateVector.buffer, stateVector.byteOffset, stateVector.byteLength).toString('latin1')
    const cached = this.replies.get(key)
    if (cached) return cached
    let budget = this.budgets.get(asker)
    if (!budget) this.budgets.set(asker, (budget = new TokenBucket(UNCACHED_PER_SECOND, UNCACHED_BURST)))
    if (!budget.take()) {
      throw new SyncBudgetExceeded(
        `more than ${UNCACHED_BURST} sync requests with new state vectors at once (${UNCACHED_PER_SECOND}/s after that); slow down and reconnect`,
      )
    }
    let reply: PreparedFrame
    try {
      reply = prepareFrame(encodeSyncStep2(encodeIntegrated(this.doc, stateVector)))
    } catch (error) {
      throw new ProtocolError(`malformed state vector in sync step 1 (${(error as Error).message})`)
    }
    if (this.replies.size >= CACHE_SIZE) this.replies.delete(this.replies.keys().next().value!)
    this.replies.set(key, reply)
    return reply
  }

  /** The document changed: every cached reply is stale. */
  changed(): void {
    // Map.clear() allocates a new table even when empty, and this runs once per update
    if (this.replies.size > 0) this.replies.clear()
    this.own = null
  }
}

/**
 * The document as an update for a client at `stateVector`, without what the server itself holds
 * pending. Y.encodeStateAsUpdate appends the doc's pending structs and deletions; those build on
 * history the server lacks (a client's write that overtook the sync step 2 carrying what it
 * builds on, typically after a server restart), so a joining client could not apply them either
 * and would hold them pending too. They reach every member in the broadcast that follows once
 * what they build on arrives.
 */
function encodeIntegrated(doc: Y.Doc, stateVector: Uint8Array): Uint8Array {
  const { pendingStructs, pendingDs } = doc.store
  doc.store.pendingStructs = null
  doc.store.pendingDs = null
  try {
    return Y.encodeStateAsUpdate(doc, stateVector)
  } finally {
    doc.store.pendingStructs = pendingStructs
    doc.store.pendingDs = pendingDs
  }
}
