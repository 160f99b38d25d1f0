// The authority of one workspace: it judges every client write to the coordination document with
// the pure rules, undoes refused writes in the same transaction, writes the rules' results back,
// and drives the server's own events (timers, sessions ending, admin revokes).
import type * as Y from 'yjs'
import { APPROVAL_FIELDS, COORD, META, type SessionValue, splitOwnedKey } from '../../shared/coordination.js'
import type { AuditLog } from '../audit/log.js'
import { answerFirst, type RequestContext, type SessionNotice, type Writer, type WriteContext } from '../rooms/hooks.js'
import type { LockRequest } from '../../shared/lock-channel.js'
import { answerLockRequest, lockNotices } from './lock-requests.js'
import { type ClientWrites, clientWrites, type KeyWrite, keysOfNewMap } from './client-writes.js'
import { advance, checkWrite, type CoordEvent, type CoordState, type ReduceResult, type Principal, Y_MAP } from './rules/index.js'
import { deleteInserted, hiddenInsert, restoreKey, valueBefore, valueNow } from './ydoc.js'
import { Schedule } from './schedule.js'
import { approvalMap, CoordinationMaps } from './maps.js'

export const SERVER_ORIGIN = Symbol('huddle-server')

export interface WorkspaceDeps {
  audit: AuditLog
  leaseGraceMs: number
  /** called after each accepted event, e.g. to checkpoint the state */
  onCommit(authority: WorkspaceAuthority): void
}

export class WorkspaceAuthority {
  private readonly maps: CoordinationMaps
  private readonly live = new Map<string, number>()
  private readonly schedule: Schedule

  constructor(
    readonly workspace: string,
    private readonly doc: Y.Doc,
    readonly state: CoordState,
    private readonly deps: WorkspaceDeps,
  ) {
    this.maps = new CoordinationMaps(doc)
    this.schedule = new Schedule({
      onDeadlines: (events) => this.serverWrite((transaction) => events.forEach((event) => this.apply(event, transaction))),
      onGraceOver: (session) => this.endSession(session),
    })
    this.publishGrace()
    // a transaction that changes nothing sends nothing
    this.serverWrite(() => this.maps.reconcile(this.state))
    this.resumeSessions()
    this.schedule.deadlines(this.state)
  }

  // ---- client writes ----------------------------------------------------------------------

  /**
   * Two passes: every write is first checked on its own (and forgeries undone), then the accepted
   * ones go through the rules. The rules' write-back must come last: undoing a forged `locks`
   * entry after a legitimate claim had been granted would otherwise erase the grant.
   */
  judge(context: WriteContext): void {
    const writer = toPrincipal(context.writer)
    const { keyed, illegal } = clientWrites(this.doc, context.transaction)
    this.undoIllegal(context, writer, illegal)
    for (const accepted of this.checkWrites(context, writer, keyed)) {
      const event = toEvent(accepted.write, accepted.after, writer, Date.now())
      const refusal = event ? this.apply(event, context.transaction) : null
      if (!refusal) continue
      this.undo(context.transaction, accepted.write, accepted.before)
      this.refused(context, accepted.write, refusal)
    }
    this.schedule.deadlines(this.state)
  }

  /** A lock-only connection's request: written as its session's own claim (lock-requests.ts). */
  answer(context: RequestContext, request: LockRequest): void {
    answerLockRequest(this.maps, context, request)
  }

  /** What `transaction` tells lock-only connections about their claims. */
  notices(transaction: Y.Transaction): SessionNotice[] {
    return lockNotices(this.maps, transaction)
  }

  private checkWrites(context: WriteContext, writer: Principal, keyed: KeyWrite[]): Accepted[] {
    const accepted: Accepted[] = []
    const refusedMaps = new Set<string>()
    for (let i = 0; i < keyed.length; i++) {
      const write = keyed[i]!
      if (write.subKey !== undefined && refusedMaps.has(write.key)) continue
      const field = write.subKey ?? write.key
      const before = valueBefore(context.transaction, write.target, field)
      const after = valueNow(write.target, field)
      if (before === undefined && after === undefined) {
        if (hiddenInsert(context.transaction, write.target, field)) this.refused(context, write, hiddenReason(write))
        continue
      }
      const refusal = checkWrite({ ...write, before, after, writer })
      if (refusal) {
        if (write.subKey === undefined) refusedMaps.add(write.key)
        this.undo(context.transaction, write, before)
        this.refused(context, write, refusal)
        continue
      }
      accepted.push({ write, before, after })
      if (write.type === COORD.approvals && write.subKey === undefined && before === undefined && after === Y_MAP) {
        keyed.push(...keysOfNewMap((write.target as Y.Map<unknown>).get(write.key) as Y.Map<unknown>, write.key))
      }
    }
    return accepted
  }

  private undoIllegal(context: WriteContext, writer: Principal, illegal: ClientWrites['illegal']): void {
    for (const { type, name } of illegal) {
      deleteInserted(context.transaction, type)
      const reason =
        checkWrite({ type: name, key: '', before: undefined, after: null, writer }) ?? `${name} holds keyed values only; list content is not allowed`
      this.refused(context, { type: name, key: '' }, reason)
    }
  }

  private undo(transaction: Y.Transaction, write: KeyWrite, before: unknown): void {
    if (write.type === COORD.approvals && write.subKey === undefined && before === Y_MAP) {
      this.maps.approvals.set(write.key, approvalMap(this.state.approvals[write.key]))
    } else {
      restoreKey(transaction, write.target, write.subKey ?? write.key, before === Y_MAP ? undefined : before)
    }
  }

  private refused(context: WriteContext, write: Pick<KeyWrite, 'type' | 'key' | 'subKey'>, reason: string): void {
    const entry = context.refuse(reason, { write: { type: write.type, key: write.key, ...(write.subKey ? { subKey: write.subKey } : {}) } })
    this.maps.pushActivity(entry)
  }

  // ---- the rules --------------------------------------------------------------------------

  /** Runs one event through the rules and writes the result; returns the refusal, if any. */
  private apply(event: CoordEvent, transaction: Y.Transaction): string | null {
    const result = advance(this.state, event)
    if (!result.ok) return result.reason
    this.maps.writeBack(result, this.state)
    this.record(event, result)
    // The session whose claim was granted or whose request was decided is waiting for this update.
    for (const transition of result.audit) {
      if ((transition.type === 'grant' || transition.type === 'decision') && 'session' in transition && transition.session) {
        answerFirst(transaction, transition.session)
      }
    }
    this.deps.onCommit(this)
    return null
  }

  private record(event: CoordEvent, result: ReduceResult & { ok: true }): void {
    // The first entry carries the input event: replaying inputs rebuilds the state.
    const transitions = result.audit.length > 0 ? result.audit : [{ type: event.type, at: event.at }]
    transitions.forEach((transition, index) => {
      const entry = this.deps.audit.append(
        this.workspace,
        {
          type: transition.type,
          ...('actor' in transition && transition.actor ? { actor: transition.actor } : {}),
          ...('session' in transition && transition.session ? { session: transition.session } : {}),
          data: index === 0 ? { ...transition, input: event } : transition,
        },
        event.at,
      )
      this.maps.pushActivity(entry)
    })
  }

  /** A server-originated change (timer, session end, admin): its own transaction. */
  private serverWrite<T>(change: (transaction: Y.Transaction) => T): T {
    let result!: T
    this.doc.transact((transaction) => {
      result = change(transaction)
    }, SERVER_ORIGIN)
    this.schedule.deadlines(this.state)
    return result
  }

  /** An event the server makes for someone (a change set's approval request or cancel); returns the refusal, if any. */
  submit(event: CoordEvent): string | null {
    return this.serverWrite((transaction) => this.apply(event, transaction))
  }

  revoke(resource: string, admin: { actor: string; role: Principal['role'] }, reason?: string): string | null {
    return this.serverWrite((transaction) =>
      this.apply({ type: 'revoke', at: Date.now(), resource, actor: admin.actor, role: admin.role, ...(reason ? { reason } : {}) }, transaction),
    )
  }

  // ---- sessions ---------------------------------------------------------------------------

  join(writer: Writer): void {
    const count = (this.live.get(writer.session) ?? 0) + 1
    this.live.set(writer.session, count)
    this.schedule.cancelGrace(writer.session)
    if (count > 1) return
    const now = Date.now()
    const { actor, name, kind, role } = writer.identity
    const previous = this.maps.sessions.get(writer.session)
    const value: SessionValue = { actor, name, kind, role, online: true, connectedAt: previous?.online ? previous.connectedAt : now, lastSeenAt: now }
    this.serverWrite(() => {
      this.maps.sessions.set(writer.session, value)
      this.maps.pushActivity(this.deps.audit.append(this.workspace, { type: 'join', actor, session: writer.session, data: { kind, role } }, now))
    })
  }

  leave(writer: Writer): void {
    const count = (this.live.get(writer.session) ?? 1) - 1
    if (count > 0) {
      this.live.set(writer.session, count)
      return
    }
    this.live.delete(writer.session)
    this.markOffline(writer.session, Date.now())
    this.schedule.startGrace(writer.session, this.deps.leaseGraceMs)
  }

  private markOffline(session: string, at: number): void {
    const value = this.maps.sessions.get(session)
    if (!value) return
    this.serverWrite(() => {
      this.maps.sessions.set(session, { ...value, online: false, lastSeenAt: at })
      this.maps.pushActivity(
        this.deps.audit.append(this.workspace, { type: 'leave', actor: value.actor, session, data: { graceMs: this.deps.leaseGraceMs } }, at),
      )
    })
  }

  private endSession(session: string): void {
    if (this.live.has(session)) return
    this.serverWrite((transaction) => {
      this.apply({ type: 'session-ended', at: Date.now(), session }, transaction)
      this.maps.sessions.delete(session)
    })
  }

  /**
   * After a restart nobody is connected yet: every known session gets its grace period (what is
   * left of it for those already offline), so a client reconnecting in time keeps its locks.
   */
  private resumeSessions(): void {
    const now = Date.now()
    const known = new Set<string>([
      ...Object.values(this.state.claims).map((claim) => claim.session),
      ...Object.keys(this.state.outcomes).flatMap((key) => splitOwnedKey(key)?.session ?? []),
    ])
    for (const [session, value] of this.maps.sessions.entries()) {
      known.delete(session)
      if (value.online) this.markOffline(session, now)
      const left = value.online ? this.deps.leaseGraceMs : value.lastSeenAt + this.deps.leaseGraceMs - now
      this.schedule.startGrace(session, Math.max(0, left))
    }
    for (const session of known) this.schedule.startGrace(session, this.deps.leaseGraceMs)
  }

  /** Clients learn from `meta.leaseGraceMs` how long a silent connection can still trust a lock. */
  private publishGrace(): void {
    if (this.maps.meta.get(META.leaseGraceMs) === this.deps.leaseGraceMs) return
    this.serverWrite(() => this.maps.meta.set(META.leaseGraceMs, this.deps.leaseGraceMs))
  }

  keepLoaded(): boolean {
    return this.live.size > 0 || this.schedule.busy()
  }

  close(): void {
    this.schedule.clear()
  }
}

/** A write that passed `checkWrite`, waiting for the rules. */
interface Accepted {
  write: KeyWrite
  before: unknown
  after: unknown
}

function toPrincipal(writer: Writer): Principal {
  const { actor, kind, role } = writer.identity
  const link = (writer.identity as { link?: unknown }).link
  return { session: writer.session, actor, kind, role, ...(typeof link === 'string' ? { link } : {}) }
}

function toEvent(write: KeyWrite, after: unknown, writer: Principal, at: number): CoordEvent | null {
  const { key, subKey } = write
  const { session, actor } = writer
  if (write.type === COORD.claims) {
    return after === undefined ? { type: 'release', at, key, session } : { type: 'claim', at, key, session, actor, value: after }
  }
  if (write.type !== COORD.approvals || subKey === undefined) return null
  if (subKey === APPROVAL_FIELDS.request) return { type: 'request', at, key, session, actor, request: after }
  if (subKey === APPROVAL_FIELDS.cancel) return { type: 'cancel', at, key, session, actor, cancel: after }
  return { type: 'vote', at, key, voter: writer, vote: after }
}

/** Why a write Yjs hid as it arrived (ydoc.ts `hiddenInsert`) is refused: so its writer hears of it. */
function hiddenReason({ type, key, subKey }: KeyWrite): string {
  const what = subKey === undefined ? `${type}.${key}` : `${type}.${key}.${subKey}`
  return `your write of ${what} crossed another write of the same key (one the server refused, most likely) and Yjs kept the other, so yours never took effect; write it again`
}
