// A hook's `beforeLoad` that throws TryAgainLater (docs/hooks.md): the document cannot be opened
// now, but nothing is wrong with it or the client. The client is closed with 1013 and the hook's
// reason (not 1011, an internal error), and a stock y-websocket client reconnects and syncs.
// tests/fixtures/custom-server.ts fails the first load of each `<workspace>/flaky` document.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, RawClient, waitFor } from './helpers/clients.js'
import { who } from './helpers/coordination-peers.js'
import { distScript, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
withServer(test, (started) => void (server = started), { script: distScript('tests/fixtures/custom-server.js') })

test.after.each(() => {
  cleanupClients()
})

test('a load that says "try again later" closes the socket with 1013 and its reason; the next load serves it', async () => {
  const editor = await who('retry-raw', 'editor')
  const first = new RawClient(`${server.wsUrl}/retry/flaky?token=${editor.token}`)
  const close = await first.waitClose(10_000, 'the failed load to close the socket')
  assert.is(close.code, 1013, `${close.code} ${close.reason}`)
  assert.match(close.reason, /flaky service is down while retry\/flaky loads; reconnect/)
  const second = new RawClient(`${server.wsUrl}/retry/flaky?token=${editor.token}`)
  assert.ok(await second.opened, 'the second socket did not open')
  await second.roundTrip(10_000)
  assert.is(second.closeInfo, null)
  first.terminate()
  second.terminate()
})

test('a stock y-websocket client reconnects after the 1013 and syncs', async () => {
  const editor = await who('retry-stock', 'editor')
  const peer = await connectPeer(server, 'stock/flaky', { token: editor.token, timeoutMs: 15_000 })
  assert.equal(
    peer.closes.map((entry) => entry.code),
    [1013],
  )
  assert.is(peer.terminal, null)
  peer.doc.getText('t').insert(0, 'served')
  const reader = await connectPeer(server, 'stock/flaky', { token: editor.token, timeoutMs: 15_000 })
  assert.is(reader.closes.length, 0)
  await waitFor(() => reader.doc.getText('t').toString() === 'served', 10_000, 'the edit to reach the second client')
})

test.run()
