// Which event a committed audit entry is, as a pure mapping: the audit log is the outbox, and every
// entry becomes exactly one dotted event type — what webhook endpoints subscribe to and what
// `huddle watch` prints. Shared by the server and the client library.

/** The fields of an audit entry the mapping reads. */
interface AuditEntry {
  workspace: string
  seq: number
  type: string
  data?: unknown
}

/** Audit entry types (server/authority/rules/state.ts and the HTTP handlers) → event types. */
const BY_AUDIT_TYPE: ReadonlyMap<string, string> = new Map([
  ['request', 'approval.requested'],
  ['vote', 'approval.voted'],
  ['claim', 'lock.claimed'],
  ['queue', 'lock.queued'],
  ['lock-waiting', 'lock.waiting'],
  ['grant', 'lock.granted'],
  ['release', 'lock.released'],
  ['cancel', 'lock.cancelled'],
  ['timeout', 'lock.timeout'],
  ['expire', 'lock.lost'],
  ['revoke', 'lock.revoked'],
  ['invalid', 'lock.invalid'],
  ['join', 'session.joined'],
  ['leave', 'session.left'],
  ['session-end', 'session.ended'],
  ['refused', 'access.refused'],
  ['token-revoked', 'token.revoked'],
  ['revert', 'doc.reverted'],
  ['webhook-created', 'ping'],
  ['webhook-deleted', 'webhook.deleted'],
  ['endpoint-disabled', 'endpoint.disabled'],
])

/** Approval decisions are one audit type; an expiry is an event of its own. */
const DECISIONS: ReadonlyMap<string, string> = new Map([['expired', 'approval.expired']])

const CHANGESET_EVENTS = [
  'changeset.proposed',
  'changeset.applied',
  'changeset.reverted',
  'changeset.rejected',
  'changeset.expired',
  'changeset.cancelled',
  'changeset.conflict',
]

/** Every event type an endpoint may subscribe to (besides `*` and `<prefix>.*`). */
export const EVENT_TYPES: readonly string[] = [...new Set([...BY_AUDIT_TYPE.values(), 'approval.decided', 'approval.expired', ...CHANGESET_EVENTS])]
  .filter((type) => type !== 'ping')
  .sort()

export function eventType(entry: Pick<AuditEntry, 'type' | 'data'>): string {
  if (entry.type === 'decision') {
    const state = (entry.data as { state?: unknown } | undefined)?.state
    return (typeof state === 'string' && DECISIONS.get(state)) || 'approval.decided'
  }
  const mapped = BY_AUDIT_TYPE.get(entry.type)
  if (mapped) return mapped
  // change sets (server/documents/changesets.ts) audit as changeset.<what>
  if (/^changeset[-.][a-z-]+$/.test(entry.type)) return `changeset.${entry.type.slice('changeset.'.length)}`
  return `audit.${entry.type}`
}

/** The Standard Webhooks `webhook-id`: the audit entry's id, stable across retries and restarts. */
export function eventId(entry: Pick<AuditEntry, 'workspace' | 'seq'>): string {
  return `${entry.workspace}:${entry.seq}`
}

/** Problems with a subscription list, or null: unknown names are refused with the known ones. */
export function checkSubscriptions(events: unknown): string | null {
  if (!Array.isArray(events) || events.length === 0 || events.length > 64 || !events.every((event) => typeof event === 'string')) {
    return 'events must be a non-empty array of event type names (at most 64), e.g. ["approval.requested", "lock.*"] or ["*"]'
  }
  const unknown = events.filter((event) => !isKnownPattern(event))
  if (unknown.length === 0) return null
  return `unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((event) => JSON.stringify(event)).join(', ')}: use "*", "<group>.*" or one of ${EVENT_TYPES.join(', ')}`
}

function isKnownPattern(pattern: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith('.*')) return EVENT_TYPES.some((type) => type.startsWith(pattern.slice(0, -1)))
  return EVENT_TYPES.includes(pattern)
}

/**
 * Whether an endpoint wants an entry. Its own `ping` always, other endpoints' pings never; the
 * rest by its subscriptions.
 */
export function wants(subscriptions: readonly string[], endpointId: string, entry: Pick<AuditEntry, 'type' | 'data'>): boolean {
  const type = eventType(entry)
  if (type === 'ping') return (entry.data as { id?: unknown } | undefined)?.id === endpointId
  return subscriptions.some((pattern) => pattern === '*' || pattern === type || (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))))
}
