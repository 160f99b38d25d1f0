// The lifecycle of a test file: its server (and browser) start before the first test, and every
// client, the browser and the server go after the last. `use` hands them to the file's variables.
import type { Browser } from 'playwright-core'
import type { Test } from 'uvu'
import { connect, type Huddle } from '../../client-lib/node.js'
import type { Role } from '../../shared/roles.js'
import { launchBrowser, type WatchedPage } from './browser.js'
import { cleanupClients, mintToken, type TokenOptions } from './clients.js'
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

/**
 * Connects client-library clients (as `actor` with `role`, in `workspace`) to the file's server;
 * they close after the last test. Call it before withServer: uvu runs after-hooks in the order
 * they were added, and the clients have to close before the server goes.
 */
export function libraryClients(suite: Test, workspace: string, server: () => TestServer): (actor: string, role: Role, token?: TokenOptions) => Promise<Huddle> {
  const clients: Huddle[] = []
  suite.after(async () => {
    for (const client of clients.splice(0)) await client.close()
  })
  return async (actor, role, token = {}) => {
    const huddle = await connect({ url: server().httpUrl, workspace, token: await mintToken(actor, role, workspace, token) })
    clients.push(huddle)
    return huddle
  }
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
