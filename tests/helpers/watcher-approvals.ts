// The Watcher's checks of the `approvals` map (docs/design.md §4): every request is the one its
// session wrote, statuses are the server's and final ones never change, votes come from eligible
// actors and are never rewritten, and each status follows from the votes or the cancel.
import * as Y from 'yjs'
import { APPROVAL_FIELDS, type ApprovalRequest, FINAL_APPROVAL_STATES, voteField, voterOf } from '../../shared/coordination.js'
import { type Role, roleAtLeast } from '../../shared/roles.js'
import { canonical } from './coordination-compare.js'
import { approvalsOf, type StatusValue } from './coordination-maps.js'
import { ledger } from './coordination-peers.js'

const FINAL: readonly string[] = FINAL_APPROVAL_STATES
const FIELDS: readonly string[] = Object.values(APPROVAL_FIELDS)

/** What the approval checks need from the Watcher: where a violation goes, and who wrote an item. */
export interface CheckContext {
  violation(text: string): void
  /** true unless one of the tests' clients not allowed by `allowed` wrote `item` */
  writerOk(item: Y.Item | undefined, allowed: (owner: { session: string; actor: string }) => boolean): boolean
  /** whether a Yjs client id is one of the tests' clients (not the server, not the watcher) */
  isClient(client: number): boolean
}

export class ApprovalChecks {
  /** every state of each approval's status, in order */
  readonly statusHistory = new Map<string, string[]>()
  private readonly requestSeen = new Map<string, string>()
  private readonly voteSeen = new Map<string, string>()
  private readonly statusSeen = new Map<string, StatusValue>()

  constructor(private readonly watcher: CheckContext) {}

  check(doc: Y.Doc): void {
    const approvals = approvalsOf(doc)
    for (const [key, item] of approvals._map) {
      if (item.deleted) continue
      const map = approvals.get(key)
      if (!(map instanceof Y.Map)) {
        this.watcher.violation(`approvals.${key} is not a Y.Map: ${JSON.stringify(map)}`)
        continue
      }
      const session = key.slice(0, key.indexOf(':'))
      if (!this.watcher.writerOk(item, (owner) => owner.session === session))
        this.watcher.violation(`approvals.${key} created by another session's client ${item.id.client}`)
      const fields = map.toJSON() as Record<string, unknown>
      for (const sub of Object.keys(fields)) {
        if (!FIELDS.includes(sub) && voterOf(sub) === null) this.watcher.violation(`approvals.${key} has unknown field ${sub}`)
      }
      const request = fields.request as ApprovalRequest | undefined
      const status = fields.status as StatusValue | undefined
      const previous = this.statusSeen.get(key)
      if (request === undefined && status === undefined) {
        if (Object.keys(fields).length > 0) this.watcher.violation(`approvals.${key} has ${Object.keys(fields).join(', ')} but no request`)
        continue
      }
      if (request === undefined || status === undefined) {
        this.watcher.violation(`approvals.${key} has ${request ? 'a request but no status' : 'a status but no request'}: ${JSON.stringify(fields)}`)
        continue
      }
      const legit = ledger.requests.get(key)
      if (!legit || canonical(legit) !== canonical(request))
        this.watcher.violation(`approvals.${key}.request ${JSON.stringify(request)} is not what its session wrote (${JSON.stringify(legit)})`)
      if (!this.watcher.writerOk(map._map.get('request'), (owner) => owner.session === session))
        this.watcher.violation(`approvals.${key}.request written by another session`)
      const requestText = canonical(request)
      if ((this.requestSeen.get(key) ?? requestText) !== requestText) this.watcher.violation(`approvals.${key}.request changed`)
      this.requestSeen.set(key, requestText)
      const statusItem = map._map.get('status')
      if (statusItem && this.watcher.isClient(statusItem.id.client)) this.watcher.violation(`approvals.${key}.status written by client ${statusItem.id.client}`)
      if (!['pending', ...FINAL].includes(status.state)) this.watcher.violation(`approvals.${key}.status is malformed: ${JSON.stringify(status)}`)
      if (previous && FINAL.includes(previous.state) && canonical(previous) !== canonical(status))
        this.watcher.violation(`approvals.${key}: final status ${JSON.stringify(previous)} became ${JSON.stringify(status)}`)
      if (!previous || previous.state !== status.state) this.statusHistory.set(key, [...(this.statusHistory.get(key) ?? []), status.state])
      this.statusSeen.set(key, status)
      // votes
      const approves: string[] = []
      let rejecter: string | null = null
      for (const sub of Object.keys(fields)) {
        const actor = voterOf(sub)
        if (actor === null) continue
        const value = fields[sub] as { decision: string }
        const text = canonical(value)
        const seenKey = `${key}|${actor}`
        const seen = this.voteSeen.get(seenKey)
        if (seen === undefined && previous && FINAL.includes(previous.state)) this.watcher.violation(`${sub} appeared on ${key} after it was ${previous.state}`)
        if (seen !== undefined && seen !== text) this.watcher.violation(`${sub} on ${key} changed from ${seen} to ${text}`)
        this.voteSeen.set(seenKey, text)
        if (!this.watcher.writerOk(map._map.get(sub), (owner) => owner.actor === actor))
          this.watcher.violation(`${sub} on ${key} written by another actor's client`)
        const problem = this.ineligible(request, actor)
        if (problem) this.watcher.violation(`${sub} on ${key} is stored but ${problem}`)
        if (value.decision === 'approve') approves.push(actor)
        else if (value.decision === 'reject') rejecter ??= actor
        else this.watcher.violation(`${sub} on ${key} is malformed: ${text}`)
      }
      if (fields.cancel !== undefined && !this.watcher.writerOk(map._map.get('cancel'), (owner) => owner.actor === request.requester))
        this.watcher.violation(`cancel of ${key} written by someone other than the requester`)
      const quorum = request.quorum ?? 1
      if (status.state === 'pending' && (rejecter || approves.length >= quorum || fields.cancel !== undefined))
        this.watcher.violation(`approvals.${key} is pending but decided by its votes/cancel: ${JSON.stringify(fields)}`)
      if (status.state === 'approved' && !(status.by && status.by.length >= quorum && status.by.every((actor) => approves.includes(actor))))
        this.watcher.violation(`approvals.${key} approved without the votes: ${JSON.stringify(fields)}`)
      if (
        status.state === 'rejected' &&
        !(status.by?.length === 1 && (fields[voteField(status.by[0]!)] as { decision?: string } | undefined)?.decision === 'reject')
      )
        this.watcher.violation(`approvals.${key} rejected without a rejection: ${JSON.stringify(fields)}`)
      if (status.state === 'cancelled' && fields.cancel === undefined) this.watcher.violation(`approvals.${key} cancelled without a cancel`)
    }
  }

  private ineligible(request: ApprovalRequest, actor: string): string | null {
    const identity = ledger.identities.get(actor)
    if (!identity) return `${actor} is unknown`
    if (identity.kind !== 'human') return `${actor} is an agent`
    if (!roleAtLeast(identity.role, 'approver')) return `${actor} has role ${identity.role}`
    if (actor === request.requester && !request.allowSelfApproval) return `${actor} is the requester`
    if (
      request.approvers &&
      !request.approvers.some(
        (entry) => entry === actor || (['viewer', 'editor', 'approver', 'admin'].includes(entry) && roleAtLeast(identity.role, entry as Role)),
      )
    )
      return `${actor} is not among the approvers`
    return null
  }
}
