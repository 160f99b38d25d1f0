// A minimal typed event emitter that works in browsers and Node alike.
type Events = Record<string, (...args: never[]) => void>

export class Emitter<E extends Events> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>()

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => set.delete(listener)
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(...args)
      } catch (error) {
        // A listener's bug must not leave the library's own state half-updated (emits happen
        // inside Yjs and socket callbacks); it still surfaces, as an uncaught error.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
}
