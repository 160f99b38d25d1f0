// Publishes this tab's own presence on every document it has open: who (the server re-stamps
// `user` from the token anyway), status derived from mouse/keyboard activity and page visibility,
// and what is being viewed.
import type { Awareness } from 'y-protocols/awareness'
import type { PresenceStatus } from '../../client-lib/presence.js'
import type { Me } from './auth.js'
import { now } from './time.js'
import { colorFor } from '../../shared/colors.js'

/** the client library's presence statuses, one definition for every client */
export type Status = PresenceStatus

/** No input for this long: idle. */
export const IDLE_AFTER_MS = 60_000
/** No input for this long, or the tab hidden: away. */
export const AWAY_AFTER_MS = 10 * 60_000

export interface PresenceState {
  user?: { id?: string; name?: string; kind?: string; color?: string }
  session?: string
  status?: Status
  viewing?: string
  activity?: string
  typing?: boolean
  lastActiveAt?: number
  [field: string]: unknown
}

export class SelfPresence {
  status: Status = 'active'
  viewing = ''
  private lastInput = Date.now()
  private readonly awarenesses = new Set<Awareness>()
  private readonly timer: ReturnType<typeof setInterval>
  private lastMove = 0

  constructor(
    private readonly me: Me,
    private readonly session: string,
  ) {
    const onInput = () => this.input()
    for (const type of ['keydown', 'pointerdown', 'wheel', 'touchstart', 'focus']) addEventListener(type, onInput, { passive: true, capture: true })
    addEventListener(
      'pointermove',
      () => {
        // pointer moves are frequent: once a second is plenty
        if (Date.now() - this.lastMove < 1000) return
        this.lastMove = Date.now()
        this.input()
      },
      { passive: true, capture: true },
    )
    document.addEventListener('visibilitychange', () => (document.hidden ? this.recompute() : this.input()))
    this.timer = setInterval(() => this.recompute(), 5000)
  }

  private input(): void {
    this.lastInput = Date.now()
    this.recompute()
  }

  private computeStatus(): Status {
    if (document.hidden) return 'away'
    const quiet = Date.now() - this.lastInput
    return quiet < IDLE_AFTER_MS ? 'active' : quiet < AWAY_AFTER_MS ? 'idle' : 'away'
  }

  private recompute(): void {
    const status = this.computeStatus()
    if (status === this.status) return
    this.status = status
    for (const awareness of this.awarenesses) this.publish(awareness)
  }

  private fields(): PresenceState {
    return {
      user: { id: this.me.actor, name: this.me.name, kind: this.me.kind, color: colorFor(this.me.actor) },
      session: this.session,
      status: this.status,
      viewing: this.viewing,
      lastActiveAt: this.lastInput + (now() - Date.now()),
    }
  }

  private publish(awareness: Awareness): void {
    const current = (awareness.getLocalState() ?? {}) as PresenceState
    awareness.setLocalState({ ...current, ...this.fields() })
  }

  /** Publishes on `awareness` until the returned function is called. */
  attach(awareness: Awareness): () => void {
    this.awarenesses.add(awareness)
    this.publish(awareness)
    return () => {
      this.awarenesses.delete(awareness)
    }
  }

  /** What the user has open: a panel name or `document:<path>`. */
  setViewing(viewing: string): void {
    if (viewing === this.viewing) return
    this.viewing = viewing
    for (const awareness of this.awarenesses) this.publish(awareness)
  }

  destroy(): void {
    clearInterval(this.timer)
    this.awarenesses.clear()
  }
}
