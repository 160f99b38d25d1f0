// The pure parts of webhooks: audit entry → event type, subscriptions, the retry schedule and
// Retry-After, and destination checks that need no network.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkSubscriptions, EVENT_TYPES, eventType, wants } from '../shared/events.js'
import { parseDestination, refusedAddress } from '../server/webhooks/destination.js'
import { failingTooLong, nextRetry, parseRetryAfter, RETRY_DELAYS_MS } from '../server/webhooks/schedule.js'

test('audit entry types map to dotted event types; decisions split by state', () => {
  assert.is(eventType({ type: 'request' }), 'approval.requested')
  assert.is(eventType({ type: 'decision', data: { state: 'approved' } }), 'approval.decided')
  assert.is(eventType({ type: 'decision', data: { state: 'expired' } }), 'approval.expired')
  assert.is(eventType({ type: 'grant' }), 'lock.granted')
  assert.is(eventType({ type: 'expire' }), 'lock.lost')
  assert.is(eventType({ type: 'revoke' }), 'lock.revoked')
  assert.is(eventType({ type: 'join' }), 'session.joined')
  assert.is(eventType({ type: 'leave' }), 'session.left')
  assert.is(eventType({ type: 'revert' }), 'doc.reverted')
  assert.is(eventType({ type: 'changeset-applied' }), 'changeset.applied')
  assert.is(eventType({ type: 'something-new' }), 'audit.something-new', 'every entry is an event, even of a kind added later')
})

test('subscriptions: known names, groups and *; unknown names listed with the known ones', () => {
  assert.is(checkSubscriptions(['approval.requested', 'lock.*', '*']), null)
  assert.match(String(checkSubscriptions(['lock.grant'])), /unknown event type "lock.grant".*lock\.granted/)
  assert.match(String(checkSubscriptions(['nothing.*'])), /unknown/)
  assert.match(String(checkSubscriptions('approval.requested')), /array/)
  assert.ok(EVENT_TYPES.includes('approval.expired') && !EVENT_TYPES.includes('ping'))
  assert.ok(wants(['lock.*'], 'wh_1', { type: 'grant' }))
  assert.not.ok(wants(['lock.*'], 'wh_1', { type: 'request' }))
  assert.ok(wants(['approval.requested'], 'wh_1', { type: 'webhook-created', data: { id: 'wh_1' } }), 'its own ping, whatever it subscribed to')
  assert.not.ok(wants(['*'], 'wh_1', { type: 'webhook-created', data: { id: 'wh_2' } }), "never another endpoint's ping")
})

test('retry schedule: 5 s … 24 h with ±20 % jitter, scaled for tests, Retry-After as a floor, then done', () => {
  assert.is(nextRetry(1, 1, 0.5).delayMs, 5000)
  assert.is(nextRetry(1, 1, 0).delayMs, 4000)
  assert.is(nextRetry(7, 1, 0.75).delayMs, 95_040_000)
  assert.is(nextRetry(RETRY_DELAYS_MS.length + 1, 1, 0.5).delayMs, null)
  assert.is(nextRetry(2, 0.001, 0.5).delayMs, 300)
  assert.is(nextRetry(1, 0.001, 0.5, 2000).delayMs, 2000)
  assert.is(parseRetryAfter('3', 0), 3000)
  assert.is(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000)
  assert.is(parseRetryAfter('soon', 0), undefined)
  assert.ok(failingTooLong(0, 86_400_000, 1))
  assert.not.ok(failingTooLong(0, 86_399_999, 1))
  assert.ok(failingTooLong(0, 86_400, 0.001))
  assert.not.ok(failingTooLong(null, 1e12, 1))
})

test('destinations: http(s) only, at most 2,048 bytes, internal addresses refused unless allowed', async () => {
  assert.match(String(parseDestination('file:///etc/passwd')), /http or https/)
  assert.match(String(parseDestination('https://user:pw@example.com/')), /user name or password/)
  assert.match(String(parseDestination(`https://e.com/${'x'.repeat(2040)}`)), /2048/)
  const check = (url: string) => refusedAddress(new URL(url), false)
  for (const url of [
    'http://127.0.0.1:9/x',
    'http://10.1.2.3/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fd00::1]/',
    'http://localhost/',
  ]) {
    assert.match(String(await check(url)), /private or loopback/, url)
  }
  assert.is(await check('http://93.184.216.34/'), null)
  assert.is(await refusedAddress(new URL('http://127.0.0.1/'), true), null)
})

test.run()
