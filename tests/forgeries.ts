// The catalogue of forged writes to a coordination document that authority-forgery.test.ts makes
// (docs/design.md §4): each names the identity that forges it, the write, and the refused writes
// the audit log must then name. Every coordination map is attacked: claims, locks, outcomes,
// sessions, meta, activity, approvals (votes, requests, statuses, cancels) and unknown types.
import * as Y from 'yjs'
import { approvalMap, approvalsOf, claimsOf, locksOf, outcomesOf } from './helpers/coordination-maps.js'

export interface Expected {
  type: string
  key: string
  subKey?: string
}

export interface Case {
  name: string
  by: string
  write(doc: Y.Doc): void
  /** the write(s) the refused audit entries must name */
  expect: Expected[]
}

/** The legitimate state the forgeries attack: sessions, a granted claim, two pending approvals. */
export interface Target {
  /** the session of the main forger (mallory) */
  forger: string
  /** the session of the victim, which holds `claim` */
  victim: string
  claim: string
  /** a quorum-2 approval with one vote (appr1), requested by the agent req-agent */
  approval: string
  /** an approval requested by selfish, an approver */
  selfApproval: string
}

export function forgeries({ forger: F, victim: V, claim: c1, approval: a1, selfApproval: a2 }: Target): Case[] {
  const now = Date.now()
  const request = (requester: string) => ({ title: 'x', action: 'y', requester })
  const newApproval = (doc: Y.Doc, key: string, value: unknown) => {
    const map = new Y.Map<unknown>()
    doc.transact(() => {
      approvalsOf(doc).set(key, map)
      map.set('request', value)
    })
  }
  // A Yjs update made elsewhere (a client id of its own) that puts list content into the map `claims`.
  const listInClaims = (() => {
    const other = new Y.Doc()
    other.getArray('claims').push(['list item'])
    return Y.encodeStateAsUpdate(other)
  })()

  return [
    {
      name: "set another session's claim",
      by: 'mallory',
      write: (d) => claimsOf(d).set(`${V}:c2`, { resources: ['db'], mode: 'exclusive' }),
      expect: [{ type: 'claims', key: `${V}:c2` }],
    },
    { name: "delete another session's claim", by: 'mallory', write: (d) => claimsOf(d).delete(c1), expect: [{ type: 'claims', key: c1 }] },
    {
      name: 'malformed claim value',
      by: 'mallory',
      write: (d) => claimsOf(d).set(`${F}:bad`, { resources: [], mode: 'sometimes' } as never),
      expect: [{ type: 'claims', key: `${F}:bad` }],
    },
    {
      name: 'claim with an unknown field',
      by: 'mallory',
      write: (d) => claimsOf(d).set(`${F}:typo`, { resources: ['db'], mode: 'exclusive', ttl: 5 } as never),
      expect: [{ type: 'claims', key: `${F}:typo` }],
    },
    {
      name: 'a Y.Map as a claim',
      by: 'mallory',
      write: (d) => claimsOf(d).set(`${F}:ymap`, new Y.Map() as never),
      expect: [{ type: 'claims', key: `${F}:ymap` }],
    },
    { name: 'list content in claims', by: 'mallory', write: (d) => Y.applyUpdate(d, listInClaims), expect: [{ type: 'claims', key: '' }] },
    {
      name: 'overwrite a lock',
      by: 'mallory',
      write: (d) =>
        locksOf(d).set('db', { holders: [{ claim: `${F}:x`, session: F, actor: 'mallory', mode: 'exclusive', token: 999, grantedAt: now }], queue: [] }),
      expect: [{ type: 'locks', key: 'db' }],
    },
    { name: 'delete a lock', by: 'mallory', write: (d) => locksOf(d).delete('db'), expect: [{ type: 'locks', key: 'db' }] },
    { name: 'invent a lock', by: 'mallory', write: (d) => locksOf(d).set('free', { holders: [], queue: [] }), expect: [{ type: 'locks', key: 'free' }] },
    {
      name: 'invent an outcome',
      by: 'mallory',
      write: (d) => outcomesOf(d).set(`${F}:x`, { state: 'granted', at: now, token: 1000 }),
      expect: [{ type: 'outcomes', key: `${F}:x` }],
    },
    {
      name: "overwrite another's outcome",
      by: 'mallory',
      write: (d) => outcomesOf(d).set(c1, { state: 'revoked', at: now }),
      expect: [{ type: 'outcomes', key: c1 }],
    },
    { name: 'delete an outcome', by: 'mallory', write: (d) => outcomesOf(d).delete(c1), expect: [{ type: 'outcomes', key: c1 }] },
    {
      name: 'overwrite own session entry',
      by: 'mallory',
      write: (d) =>
        d.getMap('sessions').set(F, { actor: 'admin', name: 'admin', kind: 'human', role: 'admin', online: true, connectedAt: now, lastSeenAt: now }),
      expect: [{ type: 'sessions', key: F }],
    },
    { name: "delete another's session entry", by: 'mallory', write: (d) => d.getMap('sessions').delete(V), expect: [{ type: 'sessions', key: V }] },
    { name: 'raise meta.fence', by: 'mallory', write: (d) => d.getMap('meta').set('fence', 1e9), expect: [{ type: 'meta', key: 'fence' }] },
    { name: 'delete meta.fence', by: 'mallory', write: (d) => d.getMap('meta').delete('fence'), expect: [{ type: 'meta', key: 'fence' }] },
    { name: 'invent a meta key', by: 'mallory', write: (d) => d.getMap('meta').set('owner', 'mallory'), expect: [{ type: 'meta', key: 'owner' }] },
    {
      name: 'append to activity',
      by: 'mallory',
      write: (d) => d.getArray('activity').push([{ seq: 1e6, type: 'grant', at: now }]),
      expect: [{ type: 'activity', key: '' }],
    },
    {
      name: 'insert into activity',
      by: 'mallory',
      write: (d) => d.getArray('activity').insert(1, [{ seq: 2, type: 'grant', at: now }]),
      expect: [{ type: 'activity', key: '' }],
    },
    { name: 'delete from activity', by: 'mallory', write: (d) => d.getArray('activity').delete(1, 2), expect: [{ type: 'activity', key: '' }] },
    {
      name: 'a second vote',
      by: 'approver1',
      write: (d) => approvalMap(d, a1).set('vote:appr1', { decision: 'reject', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:appr1' }],
    },
    {
      name: 'a vote by an agent (role admin)',
      by: 'bot',
      write: (d) => approvalMap(d, a1).set('vote:bot', { decision: 'approve', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:bot' }],
    },
    {
      name: 'a vote by a viewer',
      by: 'vic',
      write: (d) => approvalMap(d, a1).set('vote:vic', { decision: 'approve', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:vic' }],
    },
    {
      name: 'a vote by a non-approver',
      by: 'eddie',
      write: (d) => approvalMap(d, a1).set('vote:eddie', { decision: 'approve', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:eddie' }],
    },
    {
      name: 'self-approval',
      by: 'selfish',
      write: (d) => approvalMap(d, a2).set('vote:selfish', { decision: 'approve', at: Date.now() }),
      expect: [{ type: 'approvals', key: a2, subKey: 'vote:selfish' }],
    },
    {
      name: 'a vote for another actor',
      by: 'appr2',
      write: (d) => approvalMap(d, a1).set('vote:appr3', { decision: 'approve', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:appr3' }],
    },
    {
      name: 'a malformed vote',
      by: 'appr2',
      write: (d) => approvalMap(d, a1).set('vote:appr2', { decision: 'maybe', at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'vote:appr2' }],
    },
    {
      name: 'a malformed request',
      by: 'mallory',
      write: (d) => newApproval(d, `${F}:bad`, { title: '', action: 'x', requester: 'mallory' }),
      expect: [{ type: 'approvals', key: `${F}:bad`, subKey: 'request' }],
    },
    {
      name: 'a request in the name of another actor',
      by: 'mallory',
      write: (d) => newApproval(d, `${F}:spoof`, request('victim')),
      expect: [{ type: 'approvals', key: `${F}:spoof`, subKey: 'request' }],
    },
    {
      name: 'an approval that is not a Y.Map',
      by: 'mallory',
      write: (d) => approvalsOf(d).set(`${F}:plain`, { request: request('mallory') } as never),
      expect: [{ type: 'approvals', key: `${F}:plain` }],
    },
    {
      name: "an approval under another session's key",
      by: 'mallory',
      write: (d) => newApproval(d, `${V}:a9`, request('mallory')),
      expect: [{ type: 'approvals', key: `${V}:a9` }],
    },
    { name: "overwrite another's approval map", by: 'mallory', write: (d) => approvalsOf(d).set(a1, new Y.Map()), expect: [{ type: 'approvals', key: a1 }] },
    { name: "delete another's approval map", by: 'mallory', write: (d) => approvalsOf(d).delete(a1), expect: [{ type: 'approvals', key: a1 }] },
    {
      name: 'the requester replaces its own approval map',
      by: 'requester',
      write: (d) => approvalsOf(d).set(a1, new Y.Map()),
      expect: [{ type: 'approvals', key: a1 }],
    },
    {
      name: 'the requester rewrites its request',
      by: 'requester',
      write: (d) => approvalMap(d, a1).set('request', { title: 'other', action: 'other', requester: 'req-agent' }),
      expect: [{ type: 'approvals', key: a1, subKey: 'request' }],
    },
    {
      name: 'overwrite an approval status',
      by: 'mallory',
      write: (d) => approvalMap(d, a1).set('status', { state: 'approved', at: Date.now(), by: ['mallory'] }),
      expect: [{ type: 'approvals', key: a1, subKey: 'status' }],
    },
    {
      name: 'the requester approves itself through status',
      by: 'requester',
      write: (d) => approvalMap(d, a1).set('status', { state: 'approved', at: Date.now(), by: ['appr1', 'appr3'] }),
      expect: [{ type: 'approvals', key: a1, subKey: 'status' }],
    },
    {
      name: 'delete an approval status',
      by: 'mallory',
      write: (d) => approvalMap(d, a1).delete('status'),
      expect: [{ type: 'approvals', key: a1, subKey: 'status' }],
    },
    {
      name: 'an unknown approval field',
      by: 'mallory',
      write: (d) => approvalMap(d, a1).set('note', 'hi'),
      expect: [{ type: 'approvals', key: a1, subKey: 'note' }],
    },
    {
      name: 'a cancel by someone other than the requester',
      by: 'mallory',
      write: (d) => approvalMap(d, a1).set('cancel', { at: Date.now() }),
      expect: [{ type: 'approvals', key: a1, subKey: 'cancel' }],
    },
    { name: 'an unknown top-level map', by: 'mallory', write: (d) => d.getMap('evil').set('x', 1), expect: [{ type: 'evil', key: 'x' }] },
    { name: 'an unknown top-level array', by: 'mallory', write: (d) => d.getArray('evil-list').push([1, 2]), expect: [{ type: 'evil-list', key: '' }] },
    { name: 'an unknown top-level text', by: 'mallory', write: (d) => d.getText('evil-text').insert(0, 'hello'), expect: [{ type: 'evil-text', key: '' }] },
  ]
}
