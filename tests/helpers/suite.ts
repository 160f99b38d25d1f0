// The lifecycle of a test file: its server (and browser) start before the first test, and every
// client, the browser and the server go after the last. `use` hands them to the file's variables.
import type { Browser } from 'playwright-core'
import type { Test } from 'uvu'
import { launchBrowser, type WatchedPage } from './browser.js'
import { cleanupClients } from './clients.js'
import { type StartOptions, TestServer } from './server.js'

/**
 * What a file does once its server is up. When it returns (or resolves to) a function, that
 * function runs after the last test, before the server stops: how to undo what it opened.
 */
type Use = (server: TestServer) => unknown

export function withServer(suite: Test, use: Use, options?: StartOptions): void {
  let server: TestServer | undefined
  let teardown: unknown
  suite.before(async () => {
    server = await TestServer.start(options)
    teardown = await use(server)
  })
  suite.after(async () => {
    try {
      if (typeof teardown === 'function') await teardown()
    } finally {
      cleanupClients()
      await server?.dispose()
    }
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

/** A dashboard test file's server and browser (there from the first test on) and the pages it opened. */
export interface DashboardSuite {
  server: TestServer
  browser: Browser
  /** every page the file opened, for the console-error check at the end */
  pages: WatchedPage[]
}

export function withDashboard(suite: Test): DashboardSuite {
  const dash = { pages: [] as WatchedPage[] } as DashboardSuite
  withServerAndBrowser(suite, (server, browser) => Object.assign(dash, { server, browser }))
  return dash
}
