// The pacing rules (server/rooms/pacing.ts, `--broadcast-share`, README): what a room waits after
// a broadcast, from its CPU cost. Pure functions, so the promises are checked exactly.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { presenceWaitMs, smoothCost, updateWaitMs } from '../server/rooms/pacing.js'

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

test.run()
