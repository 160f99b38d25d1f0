// Awareness for one room. Presence is untrusted: a connection may only publish states for the Yjs
// client ids it owns, and the `user` field is replaced by its authenticated identity. Changes are
// collected during an event-loop turn and leave as one message for everyone (cursor churn from
// many clients would otherwise cost one send per change per socket).
//
// Stock y-websocket clients send back every awareness change they apply, other clients' states
// included, so an entry for someone else's id is an echo unless its clock is newer.
import { CloseCode } from '../../shared/close-codes.js'
import { colorFor } from '../../shared/colors.js'
import type { Identity } from '../../shared/roles.js'
import { type AwarenessEntry, type EncodedAwarenessEntry, encodeAwarenessUpdate } from '../protocol/awareness.js'

/** Yjs may pick a new client id after a conflict, so a connection may own a few. */
export const MAX_CLIENT_IDS_PER_CONNECTION = 8
/**
 * The largest presence state (UTF-8 JSON) one client may publish. Every joining connection is sent
 * every state, so a few large ones would make each join cost megabytes; a cursor, a name and a
 * status take a few hundred bytes.
 */
export const MAX_STATE_BYTES = 16 * 1024
/** removed client ids whose last clock is remembered (see `tombstones`) */
const TOMBSTONE_LIMIT = 10_000

export interface PresenceOwner {
  identity: Identity
  ownedClients: Set<number>
  /** a message for this connection alone */
  send(frame: Uint8Array): void
}

interface StoredState extends EncodedAwarenessEntry {
  owner: PresenceOwner
}

/** Why a whole awareness update is refused, with the close code that says so. */
export interface PresenceRefusal {
  code: number
  reason: string
}

export interface Accepted {
  /** entries that tell a returning client to bump its clock (see `tombstones`) */
  reply: Uint8Array | null
}

export class Presence {
  private readonly states = new Map<number, StoredState>()
  /**
   * The clock at which a closed connection's state was removed. A client that reconnects reuses
   * its old clock, which everyone would ignore as stale; answering it with a removal at this
   * clock makes y-protocols bump its clock and publish again.
   */
  private readonly tombstones = new Map<number, number>()
  private pending = new Map<number, EncodedAwarenessEntry>()

  /** Accepts the entries or returns why the whole update is refused. */
  accept(owner: PresenceOwner, entries: AwarenessEntry[]): Accepted | PresenceRefusal {
    const claimed = new Set(owner.ownedClients)
    for (const entry of entries) {
      if (entry.bytes > MAX_STATE_BYTES) {
        return {
          code: CloseCode.tooLarge,
          reason: `presence refused: the state of client ${entry.clientID} is ${entry.bytes} bytes, the limit is ${MAX_STATE_BYTES}; keep documents out of presence`,
        }
      }
      const holder = this.states.get(entry.clientID)
      if (holder && holder.owner !== owner && entry.clock > holder.clock)
        return forbidden(`awareness client id ${entry.clientID} belongs to another connection`)
      if (!holder && entry.state !== null) claimed.add(entry.clientID)
    }
    if (claimed.size > MAX_CLIENT_IDS_PER_CONNECTION)
      return forbidden(`a connection may publish presence for at most ${MAX_CLIENT_IDS_PER_CONNECTION} client ids`)
    const stale: EncodedAwarenessEntry[] = []
    for (const entry of entries) {
      const revive = this.apply(owner, entry)
      if (revive) stale.push(revive)
    }
    return { reply: stale.length > 0 ? encodeAwarenessUpdate(stale) : null }
  }

  private apply(owner: PresenceOwner, entry: AwarenessEntry): EncodedAwarenessEntry | null {
    const current = this.states.get(entry.clientID)
    if (current && (current.owner !== owner || entry.clock <= current.clock)) return null
    if (!current && entry.state === null) {
      if (owner.ownedClients.delete(entry.clientID)) this.tombstone(entry.clientID, entry.clock)
      return null
    }
    if (entry.state === null) {
      this.states.delete(entry.clientID)
      owner.ownedClients.delete(entry.clientID)
      this.tombstone(entry.clientID, entry.clock)
      this.pending.set(entry.clientID, { clientID: entry.clientID, clock: entry.clock, json: 'null' })
      return null
    }
    owner.ownedClients.add(entry.clientID)
    const removedAt = this.tombstones.get(entry.clientID)
    if (!current && removedAt !== undefined && entry.clock <= removedAt) return { clientID: entry.clientID, clock: removedAt, json: 'null' }
    this.tombstones.delete(entry.clientID)
    const json = JSON.stringify(withIdentity(entry.state as Record<string, unknown>, owner.identity))
    const stored: StoredState = { clientID: entry.clientID, clock: entry.clock, json, owner }
    this.states.set(entry.clientID, stored)
    this.pending.set(entry.clientID, stored)
    return null
  }

  private tombstone(clientID: number, clock: number): void {
    if (this.tombstones.size >= TOMBSTONE_LIMIT) this.tombstones.delete(this.tombstones.keys().next().value!)
    this.tombstones.set(clientID, clock)
  }

  /** Removes every state of a closed connection, for everyone at once. */
  removeOwner(owner: PresenceOwner): void {
    for (const clientID of owner.ownedClients) {
      const current = this.states.get(clientID)
      if (!current || current.owner !== owner) continue
      this.states.delete(clientID)
      this.tombstone(clientID, current.clock + 1)
      this.pending.set(clientID, { clientID, clock: current.clock + 1, json: 'null' })
    }
    owner.ownedClients.clear()
  }

  /** The clock of `clientID`'s state if `owner` published it. */
  clockOf(clientID: number, owner: PresenceOwner): number | undefined {
    const current = this.states.get(clientID)
    return current?.owner === owner ? current.clock : undefined
  }

  /** The changes since the last call, encoded once; null when nothing changed. */
  takePending(): Uint8Array | null {
    if (this.pending.size === 0) return null
    const update = encodeAwarenessUpdate(this.pending.values())
    this.pending = new Map()
    return update
  }

  hasPending(): boolean {
    return this.pending.size > 0
  }

  /** Every current state, for a joining connection or a query-awareness message. */
  snapshot(): Uint8Array | null {
    return this.states.size === 0 ? null : encodeAwarenessUpdate(this.states.values())
  }

  get size(): number {
    return this.states.size
  }
}

function forbidden(reason: string): PresenceRefusal {
  return { code: CloseCode.forbidden, reason: `presence refused: ${reason}` }
}

const COLOR_RE = /^#[0-9a-fA-F]{6}$/

function withIdentity(state: Record<string, unknown>, identity: Identity): Record<string, unknown> {
  const claimed = state.user as Record<string, unknown> | undefined
  const color = typeof claimed?.color === 'string' && COLOR_RE.test(claimed.color) ? claimed.color : colorFor(identity.actor)
  return { ...state, user: { id: identity.actor, name: identity.name, kind: identity.kind, color } }
}
