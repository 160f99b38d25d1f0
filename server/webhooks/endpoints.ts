// Webhook endpoints and their delivery logs in LevelDB. An endpoint's record carries its delivery
// state (the audit sequence it has handled, failed attempts, next attempt), so a restart — also
// after kill -9 — resumes exactly where deliveries stopped: at least once, never skipped.
import type { Storage as Store } from '../store/storage.js'
import { prefixRange, webhookKey, webhookLogKey } from '../store/keys.js'
import type { Format } from './payload.js'
import type { SecretSealer } from './sealed-secret.js'

export interface Endpoint extends DeliveryState {
  id: string
  workspace: string
  url: string
  events: string[]
  format: Format
  secret: string
  createdAt: number
  createdBy: string
}

/** Where an endpoint's deliveries stand; saved with it, so a restart resumes exactly there. */
export interface DeliveryState {
  /** every audit entry up to this sequence number is delivered or not wanted */
  cursor: number
  /** audit sequence numbers to send again (redelivery), ahead of the cursor */
  redeliver: number[]
  /** failed attempts at the event in front */
  attempts: number
  /** no attempt before this time (backoff, Retry-After, Slack pacing) */
  nextAt: number
  failingSince: number | null
  lastSuccessAt: number | null
  lastFailureAt: number | null
  /** failed attempts since creation */
  failures: number
  disabled: { at: number; reason: string } | null
  /** sequence number of the last delivery log record */
  logSeq: number
}

/** The delivery state of a new endpoint: nothing sent or failed yet, next is the entry after `cursor`. */
export function freshDelivery(cursor: number): DeliveryState {
  return {
    cursor,
    redeliver: [],
    attempts: 0,
    nextAt: 0,
    failingSince: null,
    lastSuccessAt: null,
    lastFailureAt: null,
    failures: 0,
    disabled: null,
    logSeq: 0,
  }
}

export interface DeliveryRecord {
  seq: number
  at: number
  /** the webhook-ids (audit entry ids) sent in this attempt: one, or a coalesced Slack burst */
  ids: string[]
  types: string[]
  attempt: number
  redelivery: boolean
  status: 'delivered' | 'failed'
  code?: number
  error?: string
  latencyMs: number
  response?: string
}

/** Delivery log records kept per endpoint; older ones are dropped as new ones are written. */
const LOG_LIMIT = 1000

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const decode = <T>(bytes: Uint8Array): T => JSON.parse(decoder.decode(bytes)) as T

/** Why an endpoint whose secret cannot be opened does not deliver. */
export const UNREADABLE_SECRET =
  'its signing secret was sealed under another server secret (HUDDLE_SECRET changed since it was created): delete the endpoint and create it again'

export class EndpointStore {
  constructor(
    private readonly store: Store,
    private readonly sealer: SecretSealer,
  ) {}

  async all(): Promise<Endpoint[]> {
    const rows = await this.store.readRange(prefixRange('webhook!'))
    return rows.map(([, value]) => this.opened(decode<Endpoint>(value)))
  }

  async of(workspace: string): Promise<Endpoint[]> {
    const rows = await this.store.readRange(prefixRange(webhookKey(workspace, '')))
    return rows.map(([, value]) => this.opened(decode<Endpoint>(value)))
  }

  /** Stored with its secret sealed (an unreadable one stays as it was stored, sealed). */
  save(endpoint: Endpoint): Promise<void> {
    const secret = this.sealer.isSealed(endpoint.secret) ? endpoint.secret : this.sealer.seal(endpoint.secret)
    return this.store.put(webhookKey(endpoint.workspace, endpoint.id), encoder.encode(JSON.stringify({ ...endpoint, secret })))
  }

  /** Whether its secret could not be opened (it is still the sealed form; see `opened`). */
  unreadable(endpoint: Endpoint): boolean {
    return this.sealer.isSealed(endpoint.secret)
  }

  /** The endpoint with its secret opened; disabled, its secret left sealed, when it cannot be. */
  private opened(stored: Endpoint): Endpoint {
    const secret = this.sealer.open(stored.secret)
    if (secret !== null) return { ...stored, secret }
    return { ...stored, disabled: stored.disabled ?? { at: Date.now(), reason: UNREADABLE_SECRET } }
  }

  /** Appends to the delivery log (the caller saves the endpoint, whose logSeq moved). */
  log(endpoint: Endpoint, record: Omit<DeliveryRecord, 'seq'>): Promise<void> {
    const seq = ++endpoint.logSeq
    const writes = [this.store.put(webhookLogKey(endpoint.workspace, endpoint.id, seq), encoder.encode(JSON.stringify({ seq, ...record })))]
    if (seq > LOG_LIMIT) writes.push(this.store.del(webhookLogKey(endpoint.workspace, endpoint.id, seq - LOG_LIMIT)))
    return Promise.all(writes).then(() => undefined)
  }

  /** The newest `limit` records, newest first. */
  async deliveries(endpoint: Endpoint, limit: number): Promise<DeliveryRecord[]> {
    const rows = await this.store.readRange({ ...prefixRange(logPrefix(endpoint)), reverse: true, limit })
    return rows.map(([, value]) => decode<DeliveryRecord>(value))
  }

  async remove(endpoint: Endpoint): Promise<void> {
    const logs = await this.store.readRange(prefixRange(logPrefix(endpoint)))
    await Promise.all([this.store.del(webhookKey(endpoint.workspace, endpoint.id)), ...logs.map(([key]) => this.store.del(key))])
  }
}

function logPrefix(endpoint: Endpoint): string {
  return `webhook-log!${endpoint.workspace}!${endpoint.id}!`
}
