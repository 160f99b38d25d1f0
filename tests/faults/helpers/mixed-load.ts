// The mixed load of the server-crash fault test, run without pause while the server is killed:
// content writers add uniquely named keys, lock clients claim, hold and release (exclusive and
// shared, one or two resources, some with waitMs), requesters ask for approvals (quorum 1 or 2,
// some expiring, some cancelled) and approvers vote on each with exactly the votes it needs.
// What it did is kept for the test's checks: the keys written, every grant seen, the counts.
import * as Y from 'yjs'
import { FINAL_APPROVAL_STATES } from '../../../shared/coordination.js'
import { delay, type Peer, prng, waitFor } from '../../helpers/clients.js'
import { approvalsOf, cancelApproval, claim, outcomesOf, release, requestApproval, statusOf, vote } from '../../helpers/coordination-maps.js'
import type { CoordPeer } from '../../helpers/coordination-peers.js'
import type { HeldGrant } from './fencing.js'
import { int, pick } from './frames.js'

export const FINAL: readonly string[] = FINAL_APPROVAL_STATES

/** A content writer and the keys it wrote. */
export interface Lane {
  peer: Peer
  label: string
  room: string
  written: string[]
}

export interface LoadOptions {
  resources: string[]
  /** how many approvers vote (each approval's voters are chosen among them) */
  approvers: number
  /** a wait for the server that is longer than this is a liveness failure */
  stuckMs: number
  /** where a failure goes */
  problems: string[]
}

export class MixedLoad {
  /** the loops run until stop() */
  private running = true
  /** approvers keep voting until every requester has its answer */
  private voting = true
  /** every grant its holder saw, with its times */
  readonly held: HeldGrant[] = []
  claims = 0
  timeouts = 0
  requests = 0

  constructor(private readonly options: LoadOptions) {}

  /** Stops the writers, lock clients and requesters (the approvers with stopVoting()). */
  stop(): void {
    this.running = false
  }

  stopVoting(): void {
    this.voting = false
  }

  private stuck(what: string): void {
    if (this.options.problems.length < 50) this.options.problems.push(`stuck: ${what}`)
  }

  async write(lane: Lane, seed: number): Promise<void> {
    const random = prng(seed)
    let n = 0
    while (this.running) {
      const key = `${lane.label}-${n++}`
      lane.peer.doc.getMap('keys').set(key, n)
      lane.written.push(key)
      await delay(30 + int(random, 70))
    }
  }

  async lock(peer: CoordPeer, seed: number): Promise<void> {
    const { stuckMs, problems } = this.options
    const random = prng(seed)
    let n = 0
    while (this.running) {
      const count = random() < 0.3 ? 2 : 1
      const resources = [...new Set(Array.from({ length: count }, () => pick(random, this.options.resources)))]
      const mode = random() < 0.2 ? 'shared' : 'exclusive'
      const waitMs = random() < 0.25 ? 500 + int(random, 2000) : undefined
      const claimedAt = Date.now()
      const key = claim(peer, `c${n++}`, { resources, mode, ...(waitMs !== undefined ? { waitMs } : {}) })
      this.claims++
      let outcome: { state: string; token?: number } | undefined
      try {
        outcome = await waitFor(
          () => {
            const value = outcomesOf(peer.doc).get(key)
            return value && value.state !== undefined ? value : null
          },
          stuckMs,
          `claim ${key}`,
        )
      } catch {
        this.stuck(`claim ${key} of ${peer.who.actor} got no outcome within ${stuckMs} ms`)
        return
      }
      const seenAt = Date.now()
      if (outcome.state === 'granted') {
        const grant: HeldGrant = { claim: key, session: peer.session, resources, mode, token: outcome.token!, claimedAt, seenAt }
        this.held.push(grant)
        await delay(10 + int(random, 120))
        grant.releasedAt = Date.now()
        release(peer, key)
      } else {
        if (outcome.state === 'timeout') this.timeouts++
        else problems.push(`claim ${key}: unexpected outcome ${JSON.stringify(outcome)}`)
        release(peer, key)
      }
      await delay(int(random, 80))
    }
  }

  async request(peer: CoordPeer, seed: number): Promise<void> {
    const { stuckMs } = this.options
    const random = prng(seed)
    let n = 0
    while (this.running) {
      const quorum = random() < 0.3 ? 2 : 1
      const expiring = random() < 0.1
      const key = requestApproval(peer, `a${n++}`, {
        title: `change ${n}`,
        action: 'deploy',
        approvers: ['approver'],
        quorum,
        ...(expiring ? { expiresAt: Date.now() + 300 + int(random, 700) } : {}),
      })
      this.requests++
      const cancelAfter = random() < 0.1 ? 50 + int(random, 300) : null
      const started = Date.now()
      try {
        await waitFor(
          () => {
            if (
              cancelAfter !== null &&
              Date.now() - started > cancelAfter &&
              statusOf(peer.doc, key)?.state === 'pending' &&
              approvalsOf(peer.doc).get(key)?.get('cancel') === undefined
            )
              cancelApproval(peer, key, 'changed my mind')
            const state = statusOf(peer.doc, key)?.state
            return state !== undefined && FINAL.includes(state)
          },
          stuckMs,
          `approval ${key}`,
        )
      } catch {
        this.stuck(`approval ${key} was not decided within ${stuckMs} ms (status ${JSON.stringify(statusOf(peer.doc, key))})`)
        return
      }
      await delay(int(random, 150))
    }
  }

  /** Each approval gets votes only from the approvers it needs (quorum), the second after the first. */
  async vote(peer: CoordPeer, index: number, seed: number): Promise<void> {
    const approvers = this.options.approvers
    const random = prng(seed)
    const voted = new Set<string>()
    while (this.voting) {
      for (const [key, map] of approvalsOf(peer.doc).entries()) {
        if (voted.has(key) || !(map instanceof Y.Map)) continue
        const request = map.get('request') as { quorum?: number } | undefined
        if (!request || (map.get('status') as { state?: string } | undefined)?.state !== 'pending' || map.get('cancel') !== undefined) continue
        const hash = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
        const first = hash % approvers
        const second = (first + 1) % approvers
        if (index === first) {
          voted.add(key)
          vote(peer, key, random() < 0.8 ? 'approve' : 'reject')
        } else if (index === second && (request.quorum ?? 1) === 2 && map.get(`vote:approver-${first}`) !== undefined) {
          voted.add(key)
          vote(peer, key, random() < 0.85 ? 'approve' : 'reject')
        }
      }
      await delay(20 + int(random, 60))
    }
  }
}
