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
  /** fixed for the owner's life (its `user` field is built once, see `withIdentity`) */
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

const NO_REPLY: Accepted = Object.freeze({ reply: null })

interface UserField {
  /** the valid colour the owner's state claimed, or null for the actor's own */
  claimed: string | null
  field: { id: string; name: string; kind: string; color: string }
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
  /** the `user` field forced on each owner's states, for the colour it last claimed (see `withIdentity`) */
  private readonly users = new WeakMap<PresenceOwner, UserField>()

  /** Accepts the entries or returns why the whole update is refused. */
  accept(owner: PresenceOwner, entries: AwarenessEntry[]): Accepted | PresenceRefusal {
    // copied only when the update claims a new id: a cursor move claims none
    let claimed: Set<number> | null = null
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
      if (!holder && entry.state !== null && !owner.ownedClients.has(entry.clientID)) (claimed ??= new Set(owner.ownedClients)).add(entry.clientID)
    }
    if (claimed && claimed.size > MAX_CLIENT_IDS_PER_CONNECTION)
      return forbidden(`a connection may publish presence for at most ${MAX_CLIENT_IDS_PER_CONNECTION} client ids`)
    let stale: EncodedAwarenessEntry[] | null = null
    for (const entry of entries) {
      const revive = this.apply(owner, entry)
      if (revive) (stale ??= []).push(revive)
    }
    return stale ? { reply: encodeAwarenessUpdate(stale) } : NO_REPLY
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
    if (removedAt !== undefined) this.tombstones.delete(entry.clientID)
    const json = this.withIdentity(owner, entry.state as Record<string, unknown>)
    // A move updates the stored state in place: the pending entry, if any, is this same object.
    if (current) {
      current.clock = entry.clock
      current.json = json
      this.pending.set(entry.clientID, current)
      return null
    }
    const stored: StoredState = { clientID: entry.clientID, clock: entry.clock, json, owner }
    this.states.set(entry.clientID, stored)
    this.pending.set(entry.clientID, stored)
    return null
  }

  /**
   * `state` as JSON with its `user` field replaced by the owner's identity. The field is built once
   * per owner and colour, not per move; `state` is the update's freshly parsed object, so it is
   * changed in place (the field keeps its position, as with a spread).
   */
  private withIdentity(owner: PresenceOwner, state: Record<string, unknown>): string {
    const claimed = (state.user as Record<string, unknown> | null | undefined)?.color
    const color = typeof claimed === 'string' && COLOR_RE.test(claimed) ? claimed : null
    let user = this.users.get(owner)
    if (user?.claimed !== color) {
      const { actor, name, kind } = owner.identity
      user = { claimed: color, field: { id: actor, name, kind, color: color ?? colorFor(actor) } }
      this.users.set(owner, user)
    }
    state.user = user.field
    return JSON.stringify(state)
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
