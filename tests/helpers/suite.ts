// The lifecycle of a test file: its server (and browser) start before the first test, and every
// client, the browser and the server go after the last. `use` hands them to the file's variables.
import type { Browser } from 'playwright-core'
import type { Test } from 'uvu'
import { launchBrowser } from './browser.js'
import { cleanupClients } from './clients.js'
import { type StartOptions, TestServer } from './server.js'

export function withServer(suite: Test, use: (server: TestServer) => void, options?: StartOptions): void {
  let server: TestServer | undefined
  suite.before(async () => {
    server = await TestServer.start(options)
    use(server)
  })
  suite.after(async () => {
    cleanupClients()
    await server?.dispose()
  })
}

export function withServerAndBrowser(suite: Test, use: (server: TestServer, browser: Browser) => void): void {
  let server: TestServer | undefined
  let browser: Browser | undefined
  suite.before(async () => {
    ;[server, browser] = await Promise.all([TestServer.start(), launchBrowser()])
    use(server, browser)
  })
  suite.after(async () => {
    cleanupClients()
    await browser?.close()
    await server?.dispose()
  })
}
