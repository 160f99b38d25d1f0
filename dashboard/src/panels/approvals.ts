// Approvals: pending requests first (title, action, details, requester, votes so far, what is still
// needed, expiry countdown) with Approve / Reject for eligible humans and the reason others cannot
// vote; then decided ones with who decided and why. A vote is this actor's `vote:<actor>` key in
// the approval's Y.Map (docs/design.md §4); the server's authority accepts or undoes it.
import { type ApprovalRequest, COORD, type Decision } from '../../../shared/coordination.js'
import { isRole, roleAtLeast } from '../../../shared/roles.js'
// The server's own eligibility rule (a pure function over shared types), so the dashboard never
// offers a vote the authority would refuse, nor hides one it would accept.
import { ineligibility } from '../../../shared/eligibility.js'
import type { Me } from '../auth.js'
import { h, keyedList, setChildren, setText } from '../dom.js'
import type { ApprovalView, WorkspaceModel } from '../model.js'
import { voteWrite } from '../../../client-lib/approvals.js'
import { ago, clock, everySecond, now, stamp, until } from '../time.js'
import { toast } from '../toast.js'
import { actorLabel, empty } from '../ui.js'

/** Vote and cancel reasons (the authority's limit). */
const MAX_REASON = 1000

/** Why `me` cannot vote on `request`, in the second person; null when they can. */
export function cannotVote(request: ApprovalRequest, me: Me): string | null {
  if (ineligibility(request, me) === null) return null
  if (me.kind !== 'human') return 'Agents do not vote: only people do.'
  if (!roleAtLeast(me.role, 'approver')) return `Your role is ${me.role}; voting needs the approver or admin role.`
  if (me.actor === request.requester && !request.allowSelfApproval) return 'You requested this, and it does not allow self-approval.'
  return `Only ${whoMayVote(request)} may vote on this.`
}

/** "any approver or admin", "bob, carol or any admin". */
export function whoMayVote(request: ApprovalRequest): string {
  const list = request.approvers
  if (!list || list.length === 0) return 'any approver or admin'
  const parts = list.map((entry) => (isRole(entry) ? (entry === 'admin' ? 'any admin' : `any ${entry} or above`) : entry))
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
}

function detailsBlock(details: unknown): HTMLElement | null {
  if (details === undefined || details === null) return null
  if (typeof details === 'string') return h('p', { class: 'details-text' }, details)
  const text = JSON.stringify(details, null, 2)
  return h('details', { class: 'details', ...(text.length < 400 ? { open: true } : {}) }, h('summary', null, 'Details'), h('pre', null, text))
}

export class ApprovalsPanel {
  readonly el: HTMLElement
  private readonly pendingList: ReturnType<typeof keyedList<ApprovalView>>
  private readonly decidedList: ReturnType<typeof keyedList<ApprovalView>>
  private readonly nonePending = empty('Nothing is waiting for a decision.')
  private readonly noneDecided = empty('No decisions yet.')
  private readonly pendingCount = h('span', { class: 'count' })
  /** approval keys already announced (or present at load) */
  private readonly known = new Set<string>()
  private primed = false
  private lastSeq = 0
  private refusalsPrimed = false
  pending = 0
  /** pending requests this user may still vote on */
  awaitingMe = 0

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
    private readonly onCount: () => void,
    private readonly show: () => void,
  ) {
    const pending = h('div', { class: 'approval-list', 'data-group': 'pending' })
    const decided = h('div', { class: 'approval-list', 'data-group': 'decided' })
    this.pendingList = keyedList(pending, (_view, key) => this.pendingCard(key))
    this.decidedList = keyedList(decided, () => this.decidedCard())
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-approvals', 'aria-labelledby': 'approvals-title' },
      h('h2', { id: 'approvals-title', class: 'panel-title' }, 'Approvals'),
      h('h3', { class: 'group-title' }, 'Pending ', this.pendingCount),
      pending,
      this.nonePending,
      h('h3', { class: 'group-title' }, 'Decided'),
      decided,
      this.noneDecided,
    )
    model.onDocChange(() => {
      this.render()
      this.watchRefusals()
    })
    everySecond(() => {
      if (!this.el.hidden) this.render()
    })
  }

  render(): void {
    const t = now()
    const all = this.model.approvalList()
    const pending = all
      .filter((a) => a.status.state === 'pending')
      .sort((a, b) => (a.request.expiresAt ?? Infinity) - (b.request.expiresAt ?? Infinity) || a.status.at - b.status.at)
    const decided = all.filter((a) => a.status.state !== 'pending').sort((a, b) => b.status.at - a.status.at)
    this.pendingList.render(pending.map((a) => [a.key, a]))
    this.decidedList.render(decided.map((a) => [a.key, a]))
    this.nonePending.hidden = pending.length > 0
    this.noneDecided.hidden = decided.length > 0
    setText(this.pendingCount, String(pending.length))
    this.announce(pending)
    const awaitingMe = pending.filter(
      (a) => !cannotVote(a.request, this.me) && !a.votes.some((v) => v.actor === this.me.actor) && (a.request.expiresAt ?? Infinity) > t,
    ).length
    if (pending.length !== this.pending || awaitingMe !== this.awaitingMe) {
      this.pending = pending.length
      this.awaitingMe = awaitingMe
      this.onCount()
    }
  }

  /** A request that arrives while the page is open gets a toast (the title count changes too). */
  private announce(pending: ApprovalView[]): void {
    if (!this.model.connection.synced) return
    if (!this.primed) {
      for (const a of this.model.approvalList()) this.known.add(a.key)
      this.primed = true
      return
    }
    for (const approval of pending) {
      if (this.known.has(approval.key)) continue
      this.known.add(approval.key)
      if (approval.request.requester === this.me.actor) continue
      const from = this.model.nameOf(approval.request.requester)
      toast(`New approval request from ${from}: ${approval.request.title}`, { action: this.el.hidden ? { label: 'View', run: this.show } : undefined })
    }
  }

  /** A vote the authority undid shows up as a `refused` activity entry: tell the voter why. */
  private watchRefusals(): void {
    const entries = this.model.activityList()
    const last = entries.length ? entries[entries.length - 1]!.seq : 0
    if (!this.refusalsPrimed) {
      if (!this.model.connection.synced) return
      this.refusalsPrimed = true
      this.lastSeq = last
      return
    }
    for (const entry of entries) {
      if (entry.seq <= this.lastSeq) continue
      const write = entry.data?.write as { type?: string; subKey?: string } | undefined
      if (entry.type === 'refused' && entry.actor === this.me.actor && write?.type === COORD.approvals) {
        toast(`Your vote was not accepted: ${String(entry.data?.reason ?? 'refused by the server')}`, { tone: 'bad' })
      }
    }
    this.lastSeq = last
  }

  private vote(key: string, decision: Decision, reason: string): void {
    const map = this.model.approval(key)
    const info = this.model.approvalList().find((view) => view.key === key)
    if (!map || !info) return
    const write = voteWrite(info, this.me, decision, reason || undefined, now())
    if (typeof write === 'string') return void toast(`Your vote cannot be sent: ${write}`, { tone: 'bad' })
    map.set(write.field, write.value)
    if (this.model.connection.state.kind !== 'live') toast('Not connected: your vote will be sent when the connection is back.', { tone: 'bad' })
  }

  private votesList(view: ApprovalView): HTMLElement | null {
    if (view.votes.length === 0) return null
    return h(
      'ul',
      { class: 'votes' },
      view.votes.map((vote) =>
        h(
          'li',
          { class: `vote vote-${vote.decision}`, 'data-actor': vote.actor },
          h('span', { class: `badge badge-${vote.decision}` }, vote.decision === 'approve' ? 'approved' : 'rejected'),
          ' ',
          actorLabel(vote.actor, this.model.nameOf(vote.actor), this.model.kindOf(vote.actor)),
          vote.reason ? h('q', { class: 'reason' }, vote.reason) : null,
          ' ',
          h('span', { class: 'muted', title: stamp(vote.at) }, ago(vote.at)),
        ),
      ),
    )
  }

  private header(view: ApprovalView, extra: Node | null) {
    const requester = view.request.requester
    return [
      h(
        'header',
        { class: 'card-head' },
        h('h3', { class: 'approval-title' }, view.request.title),
        h('span', { class: `badge badge-state badge-${view.status.state}` }, view.status.state),
        h('span', { class: 'spacer' }),
        extra,
      ),
      h(
        'p',
        { class: 'meta' },
        'Action ',
        h('code', { class: 'action' }, view.request.action),
        ' · requested by ',
        actorLabel(requester, this.model.nameOf(requester), this.model.kindOf(requester)),
      ),
    ]
  }

  private pendingCard(key: string) {
    const reason = h('textarea', {
      class: 'input reason-input',
      rows: 2,
      maxlength: MAX_REASON,
      placeholder: 'Reason (optional; shown to everyone)',
      'aria-label': 'Reason for your vote',
    })
    const approve = h('button', { class: 'btn btn-primary', type: 'button', 'data-vote': 'approve' }, 'Approve')
    const reject = h('button', { class: 'btn btn-danger', type: 'button', 'data-vote': 'reject' }, 'Reject')
    approve.addEventListener('click', () => this.vote(key, 'approve', reason.value.trim()))
    reject.addEventListener('click', () => this.vote(key, 'reject', reason.value.trim()))
    const voteForm = h('div', { class: 'vote-form' }, reason, h('div', { class: 'vote-buttons' }, approve, reject))
    const voteNote = h('p', { class: 'vote-note' })
    const countdown = h('span', { class: 'countdown' })
    const top = h('div')
    const body = h('div')
    const needed = h('p', { class: 'needed' })
    const el = h(
      'article',
      { class: 'card approval approval-pending', 'data-key': key },
      top,
      body,
      needed,
      h('div', { class: 'votes-slot' }),
      voteForm,
      voteNote,
    )
    const votesSlot = el.querySelector<HTMLElement>('.votes-slot')!
    let rendered = ''
    return {
      el,
      update: (view: ApprovalView) => {
        const t = now()
        const signature = JSON.stringify([view.request, view.votes])
        if (signature !== rendered) {
          rendered = signature
          setChildren(top, this.header(view, countdown))
          setChildren(body, detailsBlock(view.request.details))
          setChildren(votesSlot, this.votesList(view))
        }
        const { quorum } = view
        setText(
          needed,
          `Needs ${quorum} approval${quorum === 1 ? '' : 's'} from ${whoMayVote(view.request)}${view.request.allowSelfApproval ? ' (self-approval allowed)' : ''}: ${quorum - view.needed} so far, ${view.needed} more needed. One rejection decides.`,
        )
        const expiresAt = view.request.expiresAt
        const overdue = expiresAt !== undefined && expiresAt <= t
        setText(countdown, expiresAt === undefined ? 'no expiry' : overdue ? 'expiring…' : `expires ${until(expiresAt, t)}`)
        countdown.title = expiresAt === undefined ? '' : `expires ${stamp(expiresAt)}`
        countdown.classList.toggle('soon', expiresAt !== undefined && expiresAt - t < 60_000)
        const mine = view.votes.find((v) => v.actor === this.me.actor)
        const why = cannotVote(view.request, this.me)
        const canVote = !why && !mine && !overdue
        voteForm.hidden = !canVote
        el.classList.toggle('awaiting-me', canVote)
        setText(
          voteNote,
          mine
            ? `You ${mine.decision === 'approve' ? 'approved' : 'rejected'} this at ${clock(mine.at)}.`
            : why
              ? `You cannot vote: ${why}`
              : overdue
                ? 'This request has expired; no more votes are taken.'
                : '',
        )
        voteNote.hidden = voteNote.textContent === ''
        voteNote.classList.toggle('cannot-vote', Boolean(why))
      },
    }
  }

  private decidedCard() {
    const el = h('article', { class: 'card approval approval-decided' })
    let rendered = ''
    const when = h('span', { class: 'muted' })
    return {
      el,
      update: (view: ApprovalView) => {
        el.dataset.key = view.key
        el.dataset.state = view.status.state
        setText(when, ago(view.status.at))
        when.title = stamp(view.status.at)
        const signature = JSON.stringify([view.request, view.votes, view.status])
        if (signature === rendered) return
        rendered = signature
        const { status } = view
        const by = (status.by ?? []).map((actor) => this.model.nameOf(actor)).join(', ')
        const outcome =
          status.state === 'approved'
            ? `Approved by ${by}`
            : status.state === 'rejected'
              ? `Rejected by ${by}`
              : status.state === 'cancelled'
                ? `Cancelled by ${by || 'the requester'}`
                : 'Expired without a decision'
        setChildren(
          el,
          this.header(view, when),
          h('p', { class: 'decision' }, h('strong', null, outcome), status.reason ? [': ', h('q', { class: 'reason' }, status.reason)] : '.'),
          detailsBlock(view.request.details),
          this.votesList(view),
        )
      },
    }
  }
}
