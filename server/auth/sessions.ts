// A session id is bound to the first actor that presents it (docs/design.md §2); the binding is stored
// so it holds across restarts, and it lasts as long as the longest-lived token its actor presented
// with it: after that the actor could not use it anyway, so the id is free again and its record is
// dropped at the next start. Bindings of one session are decided one at a time, so two actors
// racing for a new id cannot both win.
//
// Bindings stored before they had an expiry (plain actor text) hold until their actor presents the
// session again, which gives them one.
export interface BindingStore {
  get(key: string): Promise<Uint8Array | undefined>
  put(key: string, value: Uint8Array): Promise<void>
  del(key: string): Promise<void>
  readRange(range: { gt: string; lt: string }): Promise<Array<[string, Uint8Array]>>
}

interface Binding {
  actor: string
  /** ms since the epoch; null for a binding stored before bindings expired */
  expiresAt: number | null
}

const CACHE_LIMIT = 100_000
const PREFIX = 'session!'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class SessionBindings {
  private readonly cache = new Map<string, Binding>()
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor(private readonly store: BindingStore) {}

  /** null when `actor`, with a token valid until `expiresAt`, may use `session`, else the reason it may not. */
  async bind(session: string, actor: string, expiresAt: number, now = Date.now()): Promise<string | null> {
    const binding = await this.serially(session, () => this.decide(session, actor, expiresAt, now))
    return binding.actor === actor ? null : `session id ${session} belongs to another actor: generate a new session id for this process`
  }

  /** Drops the records of expired bindings (at start). */
  async prune(now = Date.now()): Promise<number> {
    let dropped = 0
    for (const [key, value] of await this.store.readRange({ gt: PREFIX, lt: `${PREFIX}~` })) {
      const binding = parse(value)
      if (binding.expiresAt !== null && binding.expiresAt <= now) {
        await this.serially(key.slice(PREFIX.length), async () => {
          this.cache.delete(key.slice(PREFIX.length))
          await this.store.del(key)
        })
        dropped++
      }
    }
    return dropped
  }

  private async decide(session: string, actor: string, expiresAt: number, now: number): Promise<Binding> {
    const current = this.cache.get(session) ?? (await this.read(session))
    const live = current !== null && (current.expiresAt === null || current.expiresAt > now)
    if (live && current.actor !== actor) return current
    if (live && current.expiresAt !== null && current.expiresAt >= expiresAt) return current
    const binding: Binding = { actor, expiresAt }
    await this.store.put(`${PREFIX}${session}`, encoder.encode(JSON.stringify(binding)))
    this.remember(session, binding)
    return binding
  }

  private async read(session: string): Promise<Binding | null> {
    const stored = await this.store.get(`${PREFIX}${session}`)
    if (!stored) return null
    const binding = parse(stored)
    this.remember(session, binding)
    return binding
  }

  private serially<T>(session: string, work: () => Promise<T>): Promise<T> {
    const result = (this.queues.get(session) ?? Promise.resolve()).then(work, work)
    const settled = result.catch(() => undefined)
    this.queues.set(session, settled)
    void settled.then(() => {
      if (this.queues.get(session) === settled) this.queues.delete(session)
    })
    return result
  }

  private remember(session: string, binding: Binding): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(session, binding)
  }
}

function parse(value: Uint8Array): Binding {
  const text = decoder.decode(value)
  if (!text.startsWith('{')) return { actor: text, expiresAt: null }
  const stored = JSON.parse(text) as { actor: string; expiresAt: number }
  return { actor: stored.actor, expiresAt: stored.expiresAt }
}
