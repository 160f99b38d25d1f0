// The delivery loop of one endpoint: one request in flight, events in audit order, a failed event
// retried (same webhook-id) until it succeeds or the endpoint is disabled — later events wait
// behind it, so a receiver sees them in order. Runs apart from every room: a slow receiver only
// slows its own endpoint.
import type { AuditEntry } from '../audit/chain.js'
import type { AuditLog } from '../audit/log.js'
import { log } from '../log.js'
import type { Storage as Store } from '../store/storage.js'
import { attempt, type AttemptResult } from './delivery.js'
import type { Endpoint, EndpointStore } from './endpoints.js'
import { eventId, eventType, wants } from '../../shared/events.js'
import { slackRequest, standardRequest } from './payload.js'
import { failingTooLong, nextRetry } from './schedule.js'

export interface WorkerOptions {
  timeoutMs: number
  allowPrivate: boolean
  /** compresses the retry schedule and the failing-for-a-day limit (tests) */
  retryScale: number
  /** the dashboard's address, for Slack links (known once the server listens) */
  dashboardUrl(): string
  /** least time between two Slack messages to one endpoint */
  slackIntervalMs: number
}

export interface WorkerDeps {
  store: Store
  audit: AuditLog
  endpoints: EndpointStore
  options: WorkerOptions
}

/** Events coalesced into one Slack message at most. */
const SLACK_BATCH = 20
/** Audit entries read per page while looking for the next wanted one. */
const PAGE = 200
/** The pause after an unexpected error (a storage failure), before trying again. */
const ERROR_PAUSE_MS = 1000

export class Worker {
  private stopped = false
  /** set by wake(), so a wake during an attempt is not lost */
  private woken = false
  private wakeUp: (() => void) | null = null
  private readonly abort = new AbortController()
  private readonly done: Promise<void>
  /**
   * Committed entries read ahead of the cursor and not yet handled, consecutive: the next steps
   * take from here, so a backlog costs one page read per PAGE entries, not per delivery.
   */
  private ahead: AuditEntry[] = []
  /** false once a step found nothing to send (or the endpoint disabled), until there is again */
  busy = true

  constructor(
    readonly endpoint: Endpoint,
    private readonly deps: WorkerDeps,
  ) {
    this.done = this.loop()
  }

  /** New entries were appended or the endpoint changed: look again now. */
  wake(): void {
    this.busy = true
    this.woken = true
    this.wakeUp?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort()
    this.wake()
    await this.done
  }

  /** Runs `change` on the endpoint between attempts, saves it and looks again. */
  async update(change: (endpoint: Endpoint) => void): Promise<void> {
    change(this.endpoint)
    await this.deps.endpoints.save(this.endpoint)
    this.wake()
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.woken = false
      try {
        const wait = await this.step()
        this.busy = wait !== null
        if (wait !== 0) await this.sleep(wait)
      } catch (error) {
        log('webhook delivery loop failed; retrying', { endpoint: this.endpoint.id, error: (error as Error).message })
        await this.sleep(ERROR_PAUSE_MS)
      }
    }
  }

  /** One attempt if one is due; returns how long to wait before the next step (null: until woken). */
  private async step(): Promise<number | null> {
    const endpoint = this.endpoint
    if (endpoint.disabled) return null
    const due = endpoint.nextAt - Date.now()
    if (due > 0) return due
    // Entries of this turn are in the group commit: only what is on disk is ever sent.
    await this.deps.store.flush()
    const { entries, redelivery } = await this.next()
    if (entries.length === 0 || this.stopped) return null
    const request =
      endpoint.format === 'slack' ? slackRequest(entries, this.deps.options.dashboardUrl()) : standardRequest(endpoint.secret, entries[0]!, Date.now())
    const cursor = endpoint.cursor
    const result = await attempt(endpoint.url, request, { ...this.deps.options, signal: this.abort.signal })
    if (this.stopped) return 0
    await this.record(entries, redelivery, result, cursor)
    return 0
  }

  /** The next events to send: a requested redelivery first, else the first wanted after the cursor. */
  private async next(): Promise<{ entries: AuditEntry[]; redelivery: boolean }> {
    const endpoint = this.endpoint
    const again = endpoint.redeliver[0]
    if (again !== undefined) {
      const [entry] = await this.deps.audit.read(endpoint.workspace, again - 1, 1)
      if (entry?.seq === again) return { entries: [entry], redelivery: true }
      endpoint.redeliver.shift()
      await this.deps.endpoints.save(endpoint)
      return this.next()
    }
    const limit = endpoint.format === 'slack' ? SLACK_BATCH : 1
    for (;;) {
      const page = await this.readAhead()
      const wanted: AuditEntry[] = []
      for (const entry of page) if (wants(endpoint.events, endpoint.id, entry) && wanted.push(entry) === limit) break
      if (wanted.length > 0) return { entries: wanted, redelivery: false }
      if (page.length === 0) return { entries: [], redelivery: false }
      // nothing wanted in this page: skip it for good
      endpoint.cursor = page[page.length - 1]!.seq
      await this.deps.endpoints.save(endpoint)
    }
  }

  /** The entries after the cursor: those read ahead while they follow it, else a new page. */
  private async readAhead(): Promise<AuditEntry[]> {
    const cursor = this.endpoint.cursor
    let start = 0
    while (start < this.ahead.length && this.ahead[start]!.seq <= cursor) start++
    // a redelivery `from` moves the cursor back: what was read ahead no longer follows it
    if (this.ahead[start]?.seq !== cursor + 1) {
      this.ahead = await this.deps.audit.read(this.endpoint.workspace, cursor, PAGE)
      return this.ahead
    }
    if (start > 0) this.ahead = this.ahead.slice(start)
    return this.ahead
  }

  /** `cursor` is the endpoint's cursor when the attempt started: a redelivery may have moved it since. */
  private async record(entries: AuditEntry[], redelivery: boolean, result: AttemptResult, cursor: number): Promise<void> {
    const endpoint = this.endpoint
    const now = Date.now()
    const { options } = this.deps
    await this.deps.endpoints.log(endpoint, {
      at: now,
      ids: entries.map(eventId),
      types: entries.map(eventType),
      attempt: endpoint.attempts + 1,
      redelivery,
      status: result.ok ? 'delivered' : 'failed',
      ...(result.code !== undefined ? { code: result.code } : {}),
      ...(result.error ? { error: result.error } : {}),
      latencyMs: result.latencyMs,
      ...(result.response ? { response: result.response } : {}),
    })
    const pace = endpoint.format === 'slack' ? now + options.slackIntervalMs : 0
    if (result.ok) {
      if (redelivery) endpoint.redeliver.shift()
      else if (endpoint.cursor === cursor) endpoint.cursor = entries[entries.length - 1]!.seq
      Object.assign(endpoint, { attempts: 0, nextAt: pace, failingSince: null, lastSuccessAt: now })
      return this.deps.endpoints.save(endpoint)
    }
    endpoint.attempts++
    endpoint.failures++
    endpoint.lastFailureAt = now
    endpoint.failingSince ??= now
    const retry = nextRetry(endpoint.attempts, options.retryScale, Math.random(), result.retryAfterMs)
    endpoint.nextAt = Math.max(pace, now + (retry.delayMs ?? 0))
    const reason = result.gone
      ? 'the receiver answered 410 Gone'
      : retry.delayMs === null || failingTooLong(endpoint.failingSince, now, options.retryScale)
        ? `deliveries failed for ${Math.round((now - endpoint.failingSince) / 1000)} s (${endpoint.attempts} attempts at the same event; last: ${result.error ?? 'failed'})`
        : null
    if (reason) return this.disable(reason, now)
    return this.deps.endpoints.save(endpoint)
  }

  private async disable(reason: string, now: number): Promise<void> {
    const endpoint = this.endpoint
    endpoint.disabled = { at: now, reason }
    endpoint.attempts = 0
    await this.deps.endpoints.save(endpoint)
    log('webhook endpoint disabled', { workspace: endpoint.workspace, endpoint: endpoint.id, reason })
    await this.deps.audit.appendLater(endpoint.workspace, { type: 'endpoint-disabled', data: { id: endpoint.id, host: new URL(endpoint.url).host, reason } })
  }

  private sleep(ms: number | null): Promise<void> {
    if (this.woken || this.stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(() => finish(), Math.min(ms, 2 ** 31 - 1))
      const finish = () => {
        if (timer) clearTimeout(timer)
        this.wakeUp = null
        resolve()
      }
      this.wakeUp = finish
    })
  }
}
