// A delivery attempt checks the address it connects to (server/webhooks/destination.ts
// `publicOnlyLookup`), not a lookup of its own made before: a name re-pointed to an internal address
// after the endpoint was created (DNS rebinding) is refused when the connection is made. A real
// receiver on loopback stands in for the internal service; `localhost` for the re-pointed name.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { attempt } from '../server/webhooks/delivery.js'
import { publicOnlyLookup } from '../server/webhooks/destination.js'

let receiver: Server
let port = 0
let received = 0

test.before(async () => {
  receiver = createServer((request, response) => {
    received++
    request.resume()
    response.end('ok')
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  port = (receiver.address() as AddressInfo).port
})

test.after(() => {
  receiver.close()
})

const REQUEST = { headers: { 'content-type': 'application/json' }, body: '{"type":"lock.granted"}' }

test('the connect-time lookup refuses a name that resolves to loopback, with the reason', async () => {
  const error = await new Promise<Error | null>((resolve) => publicOnlyLookup('localhost', { all: true }, (failure) => resolve(failure)))
  assert.ok(error, 'localhost was let through')
  assert.match(error.message, /localhost resolves to .*private or loopback.*--webhooks-allow-private/)
})

test('a delivery to a name that resolves to an internal address never reaches it', async () => {
  received = 0
  const result = await attempt(`http://localhost:${port}/hook`, REQUEST, { timeoutMs: 5000, allowPrivate: false })
  assert.is(result.ok, false)
  assert.match(String(result.error), /private or loopback/)
  assert.is(received, 0, 'the internal receiver was contacted')
})

test('an internal address literal is refused without connecting', async () => {
  received = 0
  const result = await attempt(`http://127.0.0.1:${port}/hook`, REQUEST, { timeoutMs: 5000, allowPrivate: false })
  assert.is(result.ok, false)
  assert.match(String(result.error), /127\.0\.0\.1 resolves to 127\.0\.0\.1, a private or loopback address/)
  assert.is(received, 0)
})

test('with --webhooks-allow-private the same delivery arrives, and the answer is read', async () => {
  received = 0
  const result = await attempt(`http://localhost:${port}/hook`, REQUEST, { timeoutMs: 5000, allowPrivate: true })
  assert.is(result.ok, true, String(result.error))
  assert.is(result.code, 200)
  assert.is(result.response, 'ok')
  assert.is(received, 1)
})

test.run()
