// `lock.waiting`: a claim still queued after a threshold gets an audit entry of its own
// (`lock-waiting`), so it becomes an event like any other — someone can go and free the lock.
// Timers live in memory: a claim already waiting when the server restarts is not reported again.
import type { AuditEntry } from '../audit/chain.js'
import type { AuditLog } from '../audit/log.js'
import { log } from '../log.js'

/** Audit entry types that end a claim's wait. */
const WAIT_ENDS = new Set(['grant', 'cancel', 'timeout', 'release', 'invalid', 'revoke', 'expire'])

interface Waiting {
  key: string
  actor?: string
  session?: string
  resources?: unknown
  mode?: unknown
}

export class WaitingClaims {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly unsubscribe: () => void

  constructor(
    private readonly audit: AuditLog,
    private readonly afterMs: number,
  ) {
    this.unsubscribe = audit.subscribe((entry) => this.seen(entry))
  }

  private seen(entry: AuditEntry): void {
    const data = (entry.data ?? {}) as Record<string, unknown>
    if (typeof data.key !== 'string') return
    const id = `${entry.workspace}!${data.key}`
    if (entry.type === 'queue' && !this.timers.has(id)) {
      const waiting: Waiting = {
        key: data.key,
        ...(entry.actor ? { actor: entry.actor } : {}),
        ...(entry.session ? { session: entry.session } : {}),
        resources: data.resources,
        mode: data.mode,
      }
      const timer = setTimeout(() => this.report(entry.workspace, id, waiting, entry.at), this.afterMs)
      timer.unref()
      this.timers.set(id, timer)
    } else if (WAIT_ENDS.has(entry.type)) {
      clearTimeout(this.timers.get(id))
      this.timers.delete(id)
    }
  }

  private report(workspace: string, id: string, waiting: Waiting, since: number): void {
    this.timers.delete(id)
    const { actor, session, ...data } = waiting
    this.audit
      .appendLater(workspace, {
        type: 'lock-waiting',
        ...(actor ? { actor } : {}),
        ...(session ? { session } : {}),
        data: { ...data, since, waitedMs: Date.now() - since },
      })
      .catch((error: Error) => log('audit entry not written', { workspace, error: error.message }))
  }

  close(): void {
    this.unsubscribe()
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }
}
