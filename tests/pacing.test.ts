// The pacing rules (server/rooms/pacing.ts, `--broadcast-share`, README): what a room waits after
// a broadcast, from its CPU cost and the load. Pure functions, so the promises are checked exactly.
// Then their state and timers (pacer.ts) and a room's use of them: on a quiet server an update
// leaves in the turn it is written and presence in the next turn, with no timer either way.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import type { RoomName } from '../shared/names.js'
import type { LoopMeter } from '../server/rooms/loop-meter.js'
import { PacedBroadcast, Pacer } from '../server/rooms/pacer.js'
import type { Member } from '../server/rooms/audience.js'
import { Room } from '../server/rooms/room.js'
import { decodeMessage } from '../server/protocol/messages.js'
import {
  LOADED_SHARE,
  presenceWait,
  presenceWaitMs,
  pressure,
  ROOM_WINDOW_MS,
  roomBusyMs,
  smoothCost,
  updateWait,
  updateWaitMs,
} from '../server/rooms/pacing.js'

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual}, expected ${expected}`)

test('a room takes at most its share: the wait is cost × (1 / share − 1)', () => {
  close(updateWaitMs(1, 0.1), 9, 'share 0.1, 1 ms broadcasts')
  close(updateWaitMs(5, 0.1), 45, 'share 0.1, 5 ms broadcasts (1,000 connections)')
  close(updateWaitMs(3, 0.25), 9, 'share 0.25')
  close(updateWaitMs(0.05, 0.1), 0.45, 'a room of a few dozen: under the 1 ms a room does not wait for')
})

test('share 1 never waits', () => {
  for (const cost of [0, 0.5, 5, 50, 500]) close(updateWaitMs(cost, 1), 0, `cost ${cost} ms`)
})

test('the wait stops at 60 ms, but never below 2 × cost, so no room takes over a third of a core', () => {
  close(updateWaitMs(10, 0.1), 60, '10 ms broadcasts: 90 capped to 60')
  close(updateWaitMs(40, 0.1), 80, '40 ms broadcasts (10,000 connections): the 2t floor')
  close(updateWaitMs(40, 0.5), 40, 'a share of 1/2 asks for less than 2t: t')
  for (const share of [0.05, 0.1, 0.2, 1 / 3]) {
    for (const cost of [0.1, 1, 10, 30, 100, 1000]) {
      const wait = updateWaitMs(cost, share)
      assert.ok(cost / (cost + wait) <= 1 / 3 + 1e-9, `share ${share}, cost ${cost}: ${wait} ms leaves the room more than a third of a core`)
      assert.ok(wait <= Math.max(60, 2 * cost) + 1e-9, `share ${share}, cost ${cost}: waits ${wait} ms`)
    }
  }
})

test('the cost is smoothed: one slow broadcast moves it a fifth of the way', () => {
  close(smoothCost(5, 5), 5, 'steady')
  close(smoothCost(5, 55), 15, 'a 55 ms outlier')
  let cost = 0
  for (let i = 0; i < 50; i++) cost = smoothCost(cost, 4)
  close(Math.round(cost * 1000) / 1000, 4, 'converges on a steady cost')
})

test('presence waits at least 8 ms, longer when its broadcasts cost more than share × 8 ms', () => {
  close(presenceWaitMs(0.2, 0.1), 8, 'a small room')
  close(presenceWaitMs(2, 0.1), 20, 'a large room')
  close(presenceWaitMs(2, 1), 8, 'share 1')
})

const adaptive = { share: null }
const quiet = { loop: 0.3, room: 0.1 }
const busy = { loop: 1, room: 0.2 }

test('by default a quiet server never waits: not for updates, not for presence, however large the room', () => {
  for (const cost of [0, 0.5, 5, 50]) {
    close(updateWait(adaptive, cost, quiet), 0, `update, cost ${cost} ms`)
    close(presenceWait(adaptive, cost, quiet), 0, `presence, cost ${cost} ms`)
  }
  close(updateWait(adaptive, 5, { loop: 0.6, room: 0.4 }), 0, 'at the edge of quiet')
})

test('under load the wait grows with the pressure, up to one broadcast (a share of 1/2)', () => {
  close(updateWait(adaptive, 5, busy), updateWaitMs(5, LOADED_SHARE), 'a busy loop: the full wait')
  close(updateWait(adaptive, 5, busy), 5, 'which is the cost itself')
  close(updateWait(adaptive, 5, { loop: 0.3, room: 0.8 }), 5, 'a room taking 0.8 of a core on a quiet loop')
  close(updateWait(adaptive, 4, { loop: 0.775, room: 0 }), 2, 'half-way between quiet and busy: half the wait')
  close(presenceWait(adaptive, 2, busy), 8, 'presence keeps its 8 ms gap when busy')
  let previous = -1
  for (let loop = 0; loop <= 1.0001; loop += 0.05) {
    const wait = updateWait(adaptive, 5, { loop, room: 0 })
    assert.ok(wait >= previous, `the wait never shrinks as the loop gets busier (loop ${loop})`)
    previous = wait
  }
})

test('pressure is 0 when quiet, 1 when busy, the larger of the loop and the room', () => {
  close(pressure(quiet), 0, 'quiet')
  close(pressure(busy), 1, 'busy')
  close(pressure({ loop: 2, room: 5 }), 1, 'capped at 1')
  close(pressure({ loop: 0.3, room: 0.6 }), 0.5, 'the room alone')
})

test('--broadcast-share keeps the CPU-saving wait on a quiet server too', () => {
  close(updateWait({ share: 0.1 }, 5, quiet), 45, 'share 0.1, 5 ms broadcasts')
  close(presenceWait({ share: 0.1 }, 0.2, quiet), 8, 'presence gap')
  close(updateWait({ share: 1 }, 5, busy), 0, 'share 1 never waits, even busy')
})

test("a room's broadcast CPU decays over its window", () => {
  close(roomBusyMs(0, 0, 3), 3, 'the first broadcast')
  close(roomBusyMs(10, ROOM_WINDOW_MS, 0), 10 / Math.E, 'one window later')
  close(roomBusyMs(10, -5, 1), 11, 'a clock step backwards decays nothing')
  let busyMs = 0
  for (let i = 0; i < 2000; i++) busyMs = roomBusyMs(busyMs, 10, 5)
  assert.ok(Math.abs(busyMs / ROOM_WINDOW_MS - 0.5) < 0.02, `5 ms every 10 ms reads as half a core: ${busyMs / ROOM_WINDOW_MS}`)
})

/** A loop meter that reads `utilisation` (0..1) always. */
const meter = (utilisation: number) => ({ utilisation: () => utilisation }) as unknown as LoopMeter

/** The timers (setTimeout) started while `run` runs, until it settles. */
async function timersDuring(run: () => void | Promise<void>): Promise<number> {
  const original = globalThis.setTimeout
  let started = 0
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    started++
    return original(...args)
  }) as typeof setTimeout
  try {
    await run()
  } finally {
    globalThis.setTimeout = original
  }
  return started
}

/** Keeps the thread busy for `ms` of wall time, what the pacer measures a broadcast by. */
function burn(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('a quiet server: each document broadcast leaves inside request(), however costly, and starts no timer', async () => {
  const pacer = new Pacer(adaptive, meter(0.3))
  let sent = 0
  const updates: PacedBroadcast = new PacedBroadcast(() => {
    updates.nextAt = pacer.update(() => {
      sent++
      burn(5)
    })
  }, false)
  for (let i = 1; i <= 5; i++) {
    assert.is(await timersDuring(() => updates.request()), 0, `broadcast ${i} started a timer`)
    assert.is(sent, i, `broadcast ${i} did not leave at once`)
  }
})

test('a quiet server: a presence change leaves in the next turn, merged with the others of this turn, and starts no timer', async () => {
  const pacer = new Pacer(adaptive, meter(0.3))
  let sent = 0
  const presence: PacedBroadcast = new PacedBroadcast(() => {
    presence.nextAt = pacer.presence(() => sent++)
  }, true)
  for (let i = 1; i <= 3; i++) {
    assert.is(
      await timersDuring(() => {
        presence.request()
        presence.request()
      }),
      0,
      `presence change ${i} started a timer`,
    )
    assert.is(sent, i - 1, 'presence waits for the changes of this turn')
    await new Promise(setImmediate)
    assert.is(sent, i, `presence change ${i} did not leave in the next turn (once)`)
  }
})

test('a busy server: the next document broadcast waits, and what arrives meanwhile leaves in one', async () => {
  const pacer = new Pacer(adaptive, meter(1))
  let sent = 0
  const updates: PacedBroadcast = new PacedBroadcast(() => {
    updates.nextAt = pacer.update(() => {
      sent++
      burn(20)
    })
  }, false)
  updates.request()
  assert.is(sent, 1, 'the first broadcast leaves at once')
  assert.is(
    await timersDuring(() => {
      updates.request()
      updates.request()
    }),
    1,
    'the next waits on one timer',
  )
  assert.is(sent, 1)
  const deadline = Date.now() + 5000
  while (sent < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1))
  assert.is(sent, 2, 'the two requests left in one broadcast')
  updates.cancel()
})

test('a room on a quiet server sends the echo of an update in the turn its batch is written', async () => {
  const frames: Uint8Array[] = []
  const member: Member = {
    identity: { actor: 'ada', name: 'Ada', kind: 'human', role: 'editor', workspace: 'pacing' },
    session: 'session-of-ada',
    ownedClients: new Set(),
    send: (frame) => frames.push(frame),
    refuse: (code, reason) => assert.unreachable(`refused ${code} ${reason}`),
    noteForgery: () => undefined,
  }
  let written!: () => void
  const batch = new Promise<void>((resolve) => (written = resolve))
  const name: RoomName = { room: 'pacing/doc', workspace: 'pacing', path: 'doc' }
  const room = new Room(
    name,
    [],
    {
      appendUpdate: () => batch,
      recordRefusal: () => {
        throw new Error('no hook refuses')
      },
      countSent: () => undefined,
      pacing: adaptive,
      loop: meter(0.3),
      onEmpty: () => undefined,
      onFailed: (_room, error) => assert.unreachable(error.message),
    },
    [],
  )
  room.join(member)
  const writer = new Y.Doc()
  writer.getText('text').insert(0, 'hello')
  room.receive(member, { kind: 'update', update: Y.encodeStateAsUpdate(writer) })
  const echoes = () => frames.map((frame) => decodeMessage(frame)).filter((message) => message.kind === 'update')
  await Promise.resolve()
  assert.is(echoes().length, 0, 'nothing leaves before it is written')
  const timers = await timersDuring(async () => {
    written()
    await batch
    assert.is(echoes().length, 1, 'the echo left in the turn the batch was written')
  })
  assert.is(timers, 0)
  room.destroy('shutdown')
  writer.destroy()
})

test.run()
