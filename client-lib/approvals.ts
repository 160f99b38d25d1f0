// Approvals: a request is a Y.Map at `approvals[<session>:<id>]` holding `request`; voters add
// `vote:<actor>`, the requester may add `cancel`, and the server writes `status`. Each write is
// checked here with the server's own rules first, then confirmed (or its refusal explained)
// through the activity array, since a refused write gets no reply of its own.
import * as Y from 'yjs'
import { type ApprovalRequest, type ApprovalState, type ApprovalVote, COORD, type Decision, voteField } from '../shared/coordination.js'
import { ineligibility } from '../shared/eligibility.js'
import { parseCancel, parseRequest, parseVote } from '../shared/values.js'
import { type Identity, roleAtLeast } from '../shared/roles.js'
import { type ActivityEntry, refusalOf } from './activity.js'
import { type ClientContext, touches, waitForServer } from './context.js'
import { Emitter } from './emitter.js'
import { HuddleError, parsed } from './errors.js'
import { randomId } from './ids.js'
import { type ApprovalInfo, approvalInfo, approvalInfos, findApproval, isFinal } from './views.js'

export interface RequestOptions {
  title: string
  /** what will be done once approved, e.g. `deploy` */
  action: string
  /** any JSON (at most 16 384 characters of it) */
  details?: unknown
  /** actor ids or role names; default: every human approver or admin */
  approvers?: string[]
  /** distinct approvals needed (default 1) */
  quorum?: number
  allowSelfApproval?: boolean
  /** ms since the epoch; or use `expiresInMs` */
  expiresAt?: number
  expiresInMs?: number
}

export interface DecidedOptions {
  signal?: AbortSignal
  /** called with each change (a vote counted) while pending */
  onChange?: (info: ApprovalInfo) => void
}

/** A request made by this client. */
export class ApprovalHandle {
  constructor(
    private readonly approvals: Approvals,
    readonly key: string,
  ) {}

  get id(): string {
    return this.key.slice(this.key.indexOf(':') + 1)
  }

  /** The current state (never undefined once the request was accepted). */
  get info(): ApprovalInfo {
    return this.approvals.get(this.key)!
  }

  /** Resolves with the final state: approved, rejected, expired or cancelled. */
  decided(options?: DecidedOptions): Promise<ApprovalInfo> {
    return this.approvals.decided(this.key, options)
  }

  cancel(reason?: string): Promise<ApprovalInfo> {
    return this.approvals.cancel(this.key, reason)
  }
}

type ApprovalEvents = {
  /** a new pending request appeared (not fired for those already there at connect) */
  request: (info: ApprovalInfo) => void
  /** an approval reached its final state */
  decision: (info: ApprovalInfo) => void
}

export class Approvals extends Emitter<ApprovalEvents> {
  private readonly seen = new Map<string, ApprovalState>()

  constructor(private readonly ctx: ClientContext) {
    super()
    ctx.conn.on('change', (transaction) => {
      if (touches(transaction, [ctx.maps.approvals], true)) this.announce()
    })
  }

  /** Writes a request; resolves once the server accepted it, or rejects with its reason. */
  async request(options: RequestOptions): Promise<ApprovalHandle> {
    const request = this.requestValue(options)
    const key = `${this.ctx.session}:${randomId(8)}`
    const accepted = this.verdict(key, 'request', (entry) => entry.type === 'request' && entry.data?.key === key)
    this.ctx.conn.doc.transact(() => {
      const map = new Y.Map<unknown>()
      map.set('request', request)
      this.ctx.maps.approvals.set(key, map)
    })
    await accepted
    return new ApprovalHandle(this, key)
  }

  /** A handle to await or cancel a request by id or key (made by any session of ours). */
  async handle(idOrKey: string): Promise<ApprovalHandle> {
    return new ApprovalHandle(this, (await this.fetch(idOrKey)).key)
  }

  get(idOrKey: string): ApprovalInfo | undefined {
    try {
      return this.find(idOrKey)
    } catch {
      return undefined
    }
  }

  /** Every approval the server accepted, oldest status first; optionally only those in `state`. */
  list(filter: { state?: ApprovalState } = {}): ApprovalInfo[] {
    const all = approvalInfos(this.ctx.maps.approvals.toJSON())
    return filter.state ? all.filter((info) => info.status.state === filter.state) : all
  }

  /** Resolves with the final state of an approval; waits through reconnects. */
  async decided(idOrKey: string, options: DecidedOptions = {}): Promise<ApprovalInfo> {
    const { key } = await this.fetch(idOrKey)
    let last = ''
    return waitForServer(this.ctx, {
      signal: options.signal,
      check: () => {
        const info = this.infoOf(key)
        if (!info) return undefined
        if (isFinal(info.status.state)) return info
        const report = JSON.stringify(info)
        if (report !== last) {
          last = report
          options.onChange?.(info)
        }
        return undefined
      },
    })
  }

  /** Votes as this token's actor; resolves once the server counted the vote (with the new state). */
  async vote(idOrKey: string, decision: Decision, reason?: string): Promise<ApprovalInfo> {
    const info = await this.fetch(idOrKey)
    const write = voteWrite(info, this.ctx.identity, decision, reason)
    if (typeof write === 'string') throw new HuddleError('forbidden', `cannot vote on ${info.id} ("${info.request.title}"): ${write}`)
    const counted = this.verdict(info.key, write.field, (entry) => entry.type === 'vote' && entry.data?.key === info.key && entry.session === this.ctx.session)
    this.mapOf(info.key).set(write.field, write.value)
    await counted
    return this.infoOf(info.key)!
  }

  /** Cancels a pending request of ours; resolves with the cancelled approval. */
  async cancel(idOrKey: string, reason?: string): Promise<ApprovalInfo> {
    const info = await this.fetch(idOrKey)
    const { actor } = this.ctx.identity
    const problem = info.request.requester !== actor ? `only the requester ${info.request.requester} can cancel it` : closedProblem(info, Date.now())
    if (problem) throw new HuddleError('forbidden', `cannot cancel ${info.id} ("${info.request.title}"): ${problem}`)
    const cancel = parsed(parseCancel({ ...(reason !== undefined ? { reason } : {}), at: Date.now() }))
    const done = this.verdict(
      info.key,
      'cancel',
      (entry) =>
        entry.type === 'decision' &&
        entry.data?.key === info.key &&
        (entry.data.state === 'cancelled' || new HuddleError('refused', `cannot cancel ${info.id}: it was ${String(entry.data.state)} meanwhile`)),
    )
    this.mapOf(info.key).set('cancel', cancel)
    await done
    return this.infoOf(info.key)!
  }

  // ---- helpers --------------------------------------------------------------------------------

  private requestValue(options: RequestOptions): ApprovalRequest {
    const { identity } = this.ctx
    if (!roleAtLeast(identity.role, 'editor')) {
      throw new HuddleError('forbidden', `requesting approvals needs role editor or above; the token for ${identity.actor} has role ${identity.role}`)
    }
    const { expiresInMs, ...fields } = options
    if (expiresInMs !== undefined && (!Number.isFinite(expiresInMs) || expiresInMs <= 0)) {
      throw new HuddleError('invalid-argument', `expiresInMs must be a positive number of milliseconds, not ${expiresInMs}`)
    }
    const expiresAt = fields.expiresAt ?? (expiresInMs !== undefined ? Date.now() + expiresInMs : undefined)
    const value = Object.fromEntries(Object.entries({ ...fields, requester: identity.actor, expiresAt }).filter(([, v]) => v !== undefined))
    return parsed(parseRequest(value))
  }

  private find(idOrKey: string): ApprovalInfo {
    if (typeof idOrKey !== 'string' || !idOrKey)
      throw new HuddleError('invalid-argument', 'pass an approval id (as `huddle approvals` shows it) or its full key')
    return findApproval(this.list(), idOrKey)
  }

  /** Finds an approval; one made a moment ago elsewhere may not be here yet, so ask the server once. */
  private async fetch(idOrKey: string): Promise<ApprovalInfo> {
    try {
      return this.find(idOrKey)
    } catch (error) {
      if (!(error instanceof HuddleError && error.code === 'not-found') || !(await this.ctx.conn.roundTrip())) throw error
      return this.find(idOrKey)
    }
  }

  private infoOf(key: string): ApprovalInfo | null {
    const map = this.ctx.maps.approvals.get(key)
    return map instanceof Y.Map ? approvalInfo(key, map.toJSON()) : null
  }

  private mapOf(key: string): Y.Map<unknown> {
    return this.ctx.maps.approvals.get(key) as Y.Map<unknown>
  }

  /**
   * Settles when the activity shows our write to `field` of `key` accepted (`accepted` returns
   * true) or refused (it returns an Error, or the server logs a refusal of the write).
   */
  private verdict(key: string, field: string, accepted: (entry: ActivityEntry) => boolean | HuddleError): Promise<true> {
    const { session } = this.ctx
    return waitForServer<true>(this.ctx, {
      onEntry: (entry) => {
        const verdict = accepted(entry)
        if (verdict) return verdict
        const reason = refusalOf(
          entry,
          session,
          (write) => write.type === COORD.approvals && write.key === key && (write.subKey === undefined || write.subKey === field),
        )
        return reason
          ? new HuddleError('refused', `the server refused ${field === 'request' ? 'the request' : field} on approval ${key}: ${reason}`)
          : undefined
      },
    })
  }

  /** Emits `request` and `decision` for changes after the first sync. */
  private announce(): void {
    const quiet = this.ctx.conn.state === 'connecting'
    for (const info of this.list()) {
      const before = this.seen.get(info.key)
      const now = info.status.state
      if (before === now) continue
      this.seen.set(info.key, now)
      if (quiet) continue
      if (before === undefined && now === 'pending') this.emit('request', info)
      if (isFinal(now)) this.emit('decision', info)
    }
  }
}

function closedProblem(info: ApprovalInfo, now: number): string | null {
  if (info.status.state !== 'pending') return `it is already ${info.status.state}${info.status.by ? ` (by ${info.status.by.join(', ')})` : ''}`
  if (info.request.expiresAt !== undefined && now >= info.request.expiresAt) return 'it has expired'
  return null
}

/**
 * The `vote:<actor>` write that casts `voter`'s vote on `info`, checked as the server's authority
 * will check it (eligibility, still pending, one vote per actor, a well-formed value); or why not.
 */
export function voteWrite(
  info: ApprovalInfo,
  voter: Identity,
  decision: Decision,
  reason?: string,
  now = Date.now(),
): { field: string; value: ApprovalVote } | string {
  const problem =
    ineligibility(info.request, voter) ??
    closedProblem(info, now) ??
    (info.votes.some((vote) => vote.actor === voter.actor) ? `votes are final: ${voter.actor} already voted on ${info.id}` : null)
  if (problem) return problem
  const value = parseVote({ decision, ...(reason !== undefined ? { reason } : {}), at: now })
  return typeof value === 'string' ? value : { field: voteField(voter.actor), value }
}
