// Loaded documents by room name. Concurrent opens of one room share one load; a room unloads
// after its last connection leaves plus an idle delay, once everything it wrote is on disk.
import type { RoomName } from '../../shared/names.js'
import type { DocumentHook, UnloadReason } from './hooks.js'
import { Room, type RoomDeps } from './room.js'

export interface RegistryDeps {
  loadDoc(room: string): Promise<Uint8Array[]>
  forgetDoc(room: string): void
  appendUpdate: RoomDeps['appendUpdate']
  recordRefusal: RoomDeps['recordRefusal']
  /** what every room needs loaded first (e.g. its workspace's audit head) */
  prepare(room: RoomName): Promise<void>
  countSent: RoomDeps['countSent']
  broadcastShare: RoomDeps['broadcastShare']
  hooksFor(room: RoomName): DocumentHook[]
  onFailed(room: Room, error: Error): void
  /** how long an idle room stays loaded */
  unloadAfterMs: number
}

export class Registry {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Promise<Room>>()
  private readonly unloadTimers = new Map<string, NodeJS.Timeout>()

  constructor(private readonly deps: RegistryDeps) {}

  get size(): number {
    return this.rooms.size
  }

  all(): IterableIterator<Room> {
    return this.rooms.values()
  }

  /** The loaded room, loading it if needed. Callers must join it in the same turn to keep it. */
  open(name: RoomName): Promise<Room> {
    this.cancelUnload(name.room)
    const loaded = this.rooms.get(name.room)
    if (loaded) return Promise.resolve(loaded)
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
    const room = new Room(name, hooks, {
      appendUpdate: this.deps.appendUpdate,
      recordRefusal: this.deps.recordRefusal,
      countSent: this.deps.countSent,
      broadcastShare: this.deps.broadcastShare,
      onEmpty: (empty) => this.scheduleUnload(empty),
      onFailed: (failed, error) => this.failed(failed, error),
    }, stored)
    this.rooms.set(name.room, room)
    // A room nobody joins (the opener went away during the load) must not stay loaded for ever.
    setImmediate(() => room.members.size === 0 && this.scheduleUnload(room))
    return room
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
   * A failed batch may have carried writes of any loaded room (and their audit entries), so every
   * room's memory may now be ahead of the disk: drop them all and reload from storage on next use.
   */
  private failed(failedRoom: Room, error: Error): void {
    const rooms = new Set([failedRoom, ...this.rooms.values()])
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    this.rooms.clear()
    for (const room of rooms) {
      room.failed = true
      this.deps.onFailed(room, error)
      room.destroy('failed')
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
      this.cancelUnload(room.name.room)
      this.rooms.delete(room.name.room)
      room.failed = true
      this.deps.onFailed(room, error)
      room.destroy('failed')
      this.deps.forgetDoc(room.name.room)
    }
  }

  /** Unloads everything at once (shutdown); callers flush the store first. */
  closeAll(): void {
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    for (const room of [...this.rooms.values()]) this.drop(room, 'shutdown')
  }
}
