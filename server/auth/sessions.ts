// A session id is bound to the first actor that presents it (docs/design.md §2); the binding is stored
// so it holds across restarts. Lookups of one session are serialised so two actors racing for a
// new id cannot both win.
export interface BindingStore {
  get(key: string): Promise<Uint8Array | undefined>
  put(key: string, value: Uint8Array): Promise<void>
}

const CACHE_LIMIT = 100_000

export class SessionBindings {
  private readonly cache = new Map<string, string>()
  private readonly inFlight = new Map<string, Promise<string>>()

  constructor(private readonly store: BindingStore) {}

  /** null when `actor` may use `session`, else the reason it may not. */
  async bind(session: string, actor: string): Promise<string | null> {
    const owner = await this.ownerOrClaim(session, actor)
    return owner === actor ? null : `session id ${session} belongs to another actor: generate a new session id for this process`
  }

  private ownerOrClaim(session: string, actor: string): Promise<string> {
    const cached = this.cache.get(session)
    if (cached) return Promise.resolve(cached)
    let pending = this.inFlight.get(session)
    if (!pending) {
      pending = this.lookupOrClaim(session, actor).finally(() => this.inFlight.delete(session))
      this.inFlight.set(session, pending)
    }
    return pending
  }

  private async lookupOrClaim(session: string, actor: string): Promise<string> {
    const stored = await this.store.get(key(session))
    const owner = stored ? new TextDecoder().decode(stored) : actor
    if (!stored) await this.store.put(key(session), new TextEncoder().encode(actor))
    this.remember(session, owner)
    return owner
  }

  private remember(session: string, owner: string): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(session, owner)
  }
}

function key(session: string): string {
  return `session!${session}`
}
