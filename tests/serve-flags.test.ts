// The tuning flags of `huddle serve` (README, "huddle serve"): bad values are refused before
// anything starts, with what to write instead; good ones start a server that works.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, waitFor } from './helpers/clients.js'
import { claim, queueOf, waitOutcome } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { runCli, startHuddle, type TestServer } from './helpers/server.js'

let server: TestServer | undefined

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

for (const value of ['0', '2', '-0.5', 'a tenth']) {
  test(`--broadcast-share ${value} is refused with what to write instead`, async () => {
    const cli = await runCli(['serve', '--memory', '--port', '0', '--broadcast-share', value])
    assert.is(cli.code, 1)
    assert.match(cli.stderr, `"${value}" is not a share of a core: write a number above 0 and at most 1, e.g. 0.1`)
  })
}

test('--lease-grace takes a duration and says how to write one', async () => {
  const cli = await runCli(['serve', '--memory', '--port', '0', '--lease-grace', 'soon'])
  assert.is(cli.code, 1)
  assert.match(cli.stderr, 'bad duration "soon": write a number with a unit, e.g. 500ms, 30s')
})

for (const [flag, value] of [
  ['--max-connections', '0'],
  ['--link-attempts', 'many'],
] as const) {
  test(`${flag} ${value} is refused with what to write instead`, async () => {
    const cli = await runCli(['serve', '--memory', '--port', '0', flag, value])
    assert.is(cli.code, 1)
    assert.match(cli.stderr, `"${value}" is not a whole number of at least 1`)
  })
}

test('--broadcast-share 1 is taken: locks work, a waiter is queued', async () => {
  server = await startHuddle(['--broadcast-share', '1'])
  const ws = 'flags'
  const holder = await joinCoord(server, ws, await who('holder', 'editor'))
  await waitOutcome(holder, claim(holder, 'h', { resources: ['db'], mode: 'exclusive' }), ['granted'])
  const waiter = await joinCoord(server, ws, await who('waiter', 'editor'))
  const key = claim(waiter, 'w', { resources: ['db'], mode: 'exclusive' })
  await waitFor(() => queueOf(holder.doc, 'db').includes(key), 5000, 'the waiter was not queued')
})

test.run()
