// The client library in a browser: `client-lib` bundled by esbuild for the browser platform (its
// core must import nothing Node-only) and run in Chromium, where it connects with the browser's
// own WebSocket, takes a lock with a fencing token and releases it, as seen from Node.
import { build } from 'esbuild'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage } from './helpers/browser.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { ROOT, type TestServer } from './helpers/server.js'
import { withServerAndBrowser } from './helpers/suite.js'

let server: TestServer
let browser: Browser

withServerAndBrowser(test, (started, launched) => {
  server = started
  browser = launched
})

test('the bundled library acquires and releases a lock from a browser page', async () => {
  const bundle = await build({
    entryPoints: [join(ROOT, 'dist', 'client-lib', 'index.js')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'HuddleClient',
    write: false,
    logLevel: 'silent',
  })
  const watched = await newPage(browser)
  // Any page of the server gives the script the server's origin.
  await watched.page.goto(`${server.httpUrl}/healthz`)
  await watched.page.addScriptTag({ content: bundle.outputFiles[0]!.text })

  const watcher = await connectPeer(server, 'web', { token: await mintToken('watcher', 'viewer', 'web') })
  const locks = watcher.doc.getMap<{ holders: Array<{ actor: string; token: number }> }>('locks')
  const token = await mintToken('browser-agent', 'editor', 'web', { kind: 'agent' })
  const fencing = await watched.page.evaluate(
    async ({ url, token }) => {
      const client = (window as unknown as { HuddleClient: typeof import('../client-lib/index.js') }).HuddleClient
      const huddle = await client.connect({ url, workspace: 'web', token })
      const lock = await huddle.locks.acquire(['db'], { mode: 'exclusive' })
      ;(window as unknown as { release: () => Promise<void> }).release = () => lock.release()
      return lock.token
    },
    { url: server.httpUrl, token },
  )
  assert.type(fencing, 'number')
  const holder = await waitFor(() => locks.get('db')?.holders[0], 5000, 'the browser as the holder of db')
  assert.equal([holder.actor, holder.token], ['browser-agent', fencing])

  await watched.page.evaluate(() => (window as unknown as { release: () => Promise<void> }).release())
  await waitFor(() => !locks.has('db'), 5000, 'db released by the browser')
  assertNoConsoleErrors(watched, 'the bundled client library')
})

test.run()
