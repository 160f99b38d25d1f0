// Loaded documents by room name. Concurrent opens of one room share one load; a room unloads
// after its last connection leaves plus an idle delay, once everything it wrote is on disk.
import type * as Y from 'yjs'
import type { RoomName } from '../../shared/names.js'
import type { DocumentHook, UnloadReason } from './hooks.js'
import { LoopMeter } from './loop-meter.js'
import { Room, type RoomDeps, type RoomFailure } from './room.js'

export interface RegistryDeps {
  loadDoc(room: string): Promise<Uint8Array[]>
  forgetDoc(room: string): void
  /** hands the storage the loaded document, which it may encode instead of replaying the log */
  trackDoc(room: string, live: () => Y.Doc | null): void
  appendUpdate: RoomDeps['appendUpdate']
  recordRefusal: RoomDeps['recordRefusal']
  /** what every room needs loaded first (e.g. its workspace's audit head) */
  prepare(room: RoomName): Promise<void>
  countSent: RoomDeps['countSent']
  pacing: RoomDeps['pacing']
  hooksFor(room: RoomName): DocumentHook[]
  /** closes the members of a failed room, which is discarded right after */
  onFailed(room: Room, error: Error, cause: RoomFailure): void
  /** how long an idle room stays loaded */
  unloadAfterMs: number
}

export class Registry {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Promise<Room>>()
  private readonly unloadTimers = new Map<string, NodeJS.Timeout>()
  private failingAll = false
  private readonly loop = new LoopMeter()

  constructor(private readonly deps: RegistryDeps) {}

  get size(): number {
    return this.rooms.size
  }

  /** The loaded room, loading it if needed. Callers must join it in the same turn to keep it. */
  open(name: RoomName): Promise<Room> {
    this.cancelUnload(name.room)
    const loaded = this.rooms.get(name.room)
    if (loaded) {
      this.unloadUnlessJoined(loaded)
      return Promise.resolve(loaded)
    }
    let loading = this.loading.get(name.room)
    if (!loading) {
      loading = this.load(name).finally(() => this.loading.delete(name.room))
      this.loading.set(name.room, loading)
    }
    return loading
  }

  private async load(name: RoomName): Promise<Room> {
    const hooks = this.deps.hooksFor(name)
    await this.deps.prepare(name)
    await Promise.all(hooks.map((hook) => hook.beforeLoad?.(name)))
    const stored = await this.deps.loadDoc(name.room)
    const room = new Room(
      name,
      hooks,
      {
        appendUpdate: this.deps.appendUpdate,
        recordRefusal: this.deps.recordRefusal,
        countSent: this.deps.countSent,
        pacing: this.deps.pacing,
        loop: this.loop,
        onEmpty: (empty) => this.scheduleUnload(empty),
        onFailed: (failed, error, cause) => this.failed(failed, error, cause),
      },
      stored,
    )
    this.rooms.set(name.room, room)
    this.deps.trackDoc(name.room, () => room.liveDoc())
    this.unloadUnlessJoined(room)
    return room
  }

  /**
   * A room nobody joins by the next turn (a REST read, an opener that went away during the load)
   * must not stay loaded for ever: opening it cancelled any unload it was waiting for.
   */
  private unloadUnlessJoined(room: Room): void {
    setImmediate(() => room.members.size === 0 && this.scheduleUnload(room))
  }

  scheduleUnload(room: Room): void {
    if (this.unloadTimers.has(room.name.room) || this.rooms.get(room.name.room) !== room) return
    const timer = setTimeout(() => {
      this.unloadTimers.delete(room.name.room)
      void this.unload(room)
    }, this.deps.unloadAfterMs)
    timer.unref()
    this.unloadTimers.set(room.name.room, timer)
  }

  private cancelUnload(key: string): void {
    const timer = this.unloadTimers.get(key)
    if (!timer) return
    clearTimeout(timer)
    this.unloadTimers.delete(key)
  }

  private async unload(room: Room): Promise<void> {
    if (room.keepLoaded()) {
      if (room.members.size === 0) this.scheduleUnload(room)
      return
    }
    await room.written().catch(() => undefined)
    // Someone may have opened the room while its last batch was being written.
    if (room.keepLoaded() || this.rooms.get(room.name.room) !== room || this.unloadTimers.has(room.name.room)) return
    this.drop(room, 'idle')
  }

  private drop(room: Room, reason: UnloadReason): void {
    this.rooms.delete(room.name.room)
    room.destroy(reason)
    this.deps.forgetDoc(room.name.room)
  }

  /**
   * Rooms report their own failure, once. A hook failure discards that room only: it reloads from
   * storage on next use. A failed batch may have carried writes of any loaded room (and their
   * audit entries), so every room's memory may now be ahead of the disk: all of them fail.
   */
  private failed(room: Room, error: Error, cause: RoomFailure): void {
    this.discard(room, error, cause)
    if (cause !== 'storage' || this.failingAll) return
    this.failingAll = true
    try {
      for (const other of [...this.rooms.values()]) other.failForStorage(error)
    } finally {
      this.failingAll = false
    }
  }

  /**
   * Drops the rooms `matches` picks at once, writing nothing more for them: this node may no longer
   * write them (in a cluster, another node took their workspace). Their members are closed by
   * onFailed with `error`; the next open loads them afresh.
   */
  evict(matches: (name: RoomName) => boolean, error: Error): void {
    for (const room of [...this.rooms.values()]) {
      if (!matches(room.name)) continue
      this.discard(room, error, 'storage')
      this.deps.forgetDoc(room.name.room)
    }
  }

  private discard(room: Room, error: Error, cause: RoomFailure): void {
    this.cancelUnload(room.name.room)
    if (this.rooms.get(room.name.room) === room) this.rooms.delete(room.name.room)
    this.deps.onFailed(room, error, cause)
    room.destroy('failed')
    // After a storage failure the store keeps the document's log position for the reload.
    if (cause === 'hook') this.deps.forgetDoc(room.name.room)
  }

  /** Unloads everything at once (shutdown); callers flush the store first. */
  closeAll(): void {
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    for (const room of [...this.rooms.values()]) this.drop(room, 'shutdown')
  }
}
