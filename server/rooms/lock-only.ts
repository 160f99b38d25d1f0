// Lock-only members of a room (shared/lock-channel.ts): they send lock requests instead of
// document traffic. A request is answered by the hook that takes them (the authority) through a
// context the room gives: writes made as the member's own, replies sent once what is queued is
// written.
import type * as Y from 'yjs'
import { encodeLockMessage, type LockRequest } from '../../shared/lock-channel.js'
import type { RoomName } from '../../shared/names.js'
import { type Incoming, ProtocolError } from '../protocol/messages.js'
import type { Member } from './audience.js'
import type { DocumentHook } from './hooks.js'

/** What answering a lock request needs from the room. */
export interface LockRequestRoom {
  name: RoomName
  doc: Y.Doc
  hooks: readonly DocumentHook[]
  /** runs `change` as `member`'s write, judged by the write hooks: their refusals, or null when one threw */
  writeAs(member: Member, change: () => void): string[] | null
  /** runs `send` once everything queued so far is written, if `member` is still in the room */
  afterWritten(member: Member, send: () => void): void
}

/** Throws when `message` does not belong on `member`'s kind of connection. */
export function checkKind(member: Member, message: Incoming): void {
  if ((member.lockOnly === true) === (message.kind === 'lock')) return
  throw new ProtocolError(
    member.lockOnly
      ? `this connection is lock-only (?locks-only=1): it takes lock requests (message type 100), not ${message.kind}; connect without locks-only to sync the document`
      : 'lock requests (message type 100) need a lock-only connection: connect to the workspace room with ?locks-only=1',
  )
}

export function answerLockRequest(room: LockRequestRoom, member: Member, request: LockRequest): void {
  const hook = room.hooks.find((candidate) => candidate.onLockRequest)
  if (!hook) throw new ProtocolError(`${room.name.room} takes no lock requests`)
  const context = {
    room: room.name,
    doc: room.doc,
    writer: member,
    writeAs: (change: () => void) => room.writeAs(member, change),
    reply: (notice: Parameters<typeof encodeLockMessage>[0]) => {
      const frame = encodeLockMessage(notice)
      room.afterWritten(member, () => member.send(frame))
    },
  }
  hook.onLockRequest!(context, request)
}
