// Who a room sends to, and when: a document update is held for a member still waiting for its
// first sync reply (a client with a stale document would apply an update's deletions at once while
// its inserts wait for the missing history, showing states that never existed) and sent after it.
// Lock-only members (shared/lock-channel.ts) get no document and no presence, only the notices
// addressed to their session.
import * as Y from 'yjs'
import { type PreparedFrame, prepareFrame, prepareFrames } from '../protocol/frame.js'
import { encodeUpdate } from '../protocol/messages.js'
import type { Writer } from './hooks.js'
import type { PresenceOwner } from './presence.js'

/** a member that never asks to sync gets its held updates anyway after this many */
const MAX_HELD_FRAMES = 256

/** What a room needs from a connection. */
export interface Member extends PresenceOwner, Writer {
  send(frame: Uint8Array): void
  /** sends a frame prepared once for many sockets (see protocol/frame.ts); `now` is Date.now() */
  sendPrepared?(frame: PreparedFrame, now: number): void
  refuse(code: number, reason: string): void
  /** a write of this member was partly undone by a hook */
  noteForgery(reason: string): void
  /** true for a connection that holds no replica and gets notices instead (shared/lock-channel.ts) */
  readonly lockOnly?: boolean
}

interface Held {
  /** whether the member sent sync step 1 (its reply releases what is held) */
  asked: boolean
  frames: PreparedFrame[]
}

export class Audience {
  readonly members = new Set<Member>()
  /** members waiting for their first sync reply, with the update frames held for them */
  private readonly syncing = new Map<Member, Held>()
  /** the lock-only members, by session */
  private readonly lockOnly = new Map<string, Set<Member>>()
  private lockOnlyCount = 0

  /** `countSent` counts `frame`'s messages sent to `sockets` sockets */
  constructor(private readonly countSent: (sockets: number, frame: PreparedFrame) => void) {}

  add(member: Member): void {
    this.members.add(member)
    if (!member.lockOnly) return void this.syncing.set(member, { asked: false, frames: [] })
    this.lockOnlyCount++
    const sessionMembers = this.lockOnly.get(member.session)
    if (sessionMembers) sessionMembers.add(member)
    else this.lockOnly.set(member.session, new Set([member]))
  }

  /** False when `member` was not in the audience. */
  remove(member: Member): boolean {
    if (!this.members.delete(member)) return false
    this.syncing.delete(member)
    if (!member.lockOnly) return true
    this.lockOnlyCount--
    const sessionMembers = this.lockOnly.get(member.session)
    if (sessionMembers?.delete(member) && sessionMembers.size === 0) this.lockOnly.delete(member.session)
    return true
  }

  /** Whether any member wants notices (so that building them is worth it). */
  get hasLockOnly(): boolean {
    return this.lockOnly.size > 0
  }

  /** Sends `frame` to the lock-only members of `session`. */
  notify(session: string, frame: Uint8Array): void {
    for (const member of this.lockOnly.get(session) ?? []) member.send(frame)
  }

  /** `member` sent sync step 1: what is held for it waits for the reply (then `release`). */
  askedToSync(member: Member): void {
    const held = this.syncing.get(member)
    if (held) held.asked = true
  }

  /** `member` wrote: one writing without having asked to sync wants its echo, not a consistent snapshot. */
  wrote(member: Member): void {
    if (this.syncing.get(member)?.asked === false) this.release(member, Date.now())
  }

  /** Sends what was held for `member` (after its sync reply, or when it never asks for one). */
  release(member: Member, now: number): void {
    const held = this.syncing.get(member)
    this.syncing.delete(member)
    for (const frame of held?.frames ?? []) sendTo(member, frame, now)
  }

  /** Sends `frame` to every member. */
  sendAll(frame: PreparedFrame): void {
    const now = Date.now()
    for (const member of this.members) if (!member.lockOnly) sendTo(member, frame, now)
    this.countSent(this.replicas, frame)
  }

  /**
   * Sends document updates to every member, holding them for members still waiting to sync; the
   * connections of `waiting` sessions first (with 1,000 members the last socket is written
   * milliseconds after the first).
   */
  sendUpdates(updates: Uint8Array[], waiting: ReadonlySet<string>): void {
    const frame = this.frameOf(updates)
    const now = Date.now()
    if (waiting.size > 0) {
      for (const member of this.members) if (waiting.has(member.session)) this.deliver(member, frame, now)
    }
    for (const member of this.members) if (!waiting.has(member.session)) this.deliver(member, frame, now)
    this.countSent(this.replicas, frame)
  }

  /**
   * Several updates leave merged into one when several members read them: merging costs the
   * server once and saves every reader a transaction per update. With one reader (typically the
   * writer getting its own echo) it would save one client what it costs the server, which all
   * rooms share: the updates then go as they are, still in one socket write.
   */
  private frameOf(updates: Uint8Array[]): PreparedFrame {
    if (updates.length === 1) return prepareFrame(encodeUpdate(updates[0]!))
    if (this.replicas > 1) return prepareFrame(encodeUpdate(Y.mergeUpdates(updates)))
    return prepareFrames(updates.map(encodeUpdate))
  }

  private get replicas(): number {
    return this.members.size - this.lockOnlyCount
  }

  private deliver(member: Member, frame: PreparedFrame, now: number): void {
    if (member.lockOnly) return
    const held = this.syncing.get(member)
    if (!held) sendTo(member, frame, now)
    else if (held.frames.push(frame) > MAX_HELD_FRAMES) this.release(member, now)
  }
}

export function sendTo(member: Member, frame: PreparedFrame, now: number): void {
  if (member.sendPrepared) member.sendPrepared(frame, now)
  else for (const payload of frame.payloads) member.send(payload)
}
