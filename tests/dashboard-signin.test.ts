// Dashboard, in a real browser: signing in with a token, refusals shown readably (bad and expired
// tokens), and share links: created, copied and revoked by an admin in the page, redeemed with a
// password, refused once revoked or expired.
import { SignJWT } from 'jose'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, showPanel, textOf, waitLive } from './helpers/browser.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'acme'
/** failed HTTP statuses the browser reports on its own for answers the page expects */
const EXPECTED_HTTP_ERRORS = [/Failed to load resource: the server responded with a status of (401|404|410)/]

const dash = withDashboard(test)

async function api(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${dash.server.httpUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

test('sign in with a token on /, stay signed in for the tab, sign out', async () => {
  const watched = await newPage(dash.browser)
  dash.pages.push(watched)
  const { page } = watched
  await page.goto(`${dash.server.httpUrl}/`)
  await screenshot(page, 'sign-in')
  const token = await mintToken('sam', 'editor', '*', { name: 'Sam Signin' })
  await page.fill('textarea[name="token"]', 'not-a-token')
  await page.click('button[type="submit"]')
  assert.match(await textOf(page, '#signin-error'), /not a JWT/)
  await page.fill('textarea[name="token"]', token)
  await page.click('button[type="submit"]')
  assert.match(await textOf(page, '#signin-error'), /type which one to open/)
  await page.fill('input[name="workspace"]', WS)
  await page.click('button[type="submit"]')
  await page.waitForURL(`**/w/${WS}`)
  await waitLive(page)
  assert.match(await textOf(page, '.me'), /Sam Signin/)
  await page.reload()
  await waitLive(page)
  await page.click('button:has-text("Sign out")')
  await page.waitForURL(`${dash.server.httpUrl}/`)
  assert.is(await page.evaluate(() => sessionStorage.getItem('huddle.token')), null)
})

test('a token the server refuses, and one that expires while connected, say to sign in again', async () => {
  const watched = await newPage(dash.browser)
  dash.pages.push(watched)
  const { page } = watched
  const forged = await new SignJWT({ name: 'Mallory', kind: 'human', ws: WS, role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('mallory')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('some-other-secret-0123456789-0123456789'))
  await page.goto(`${dash.server.httpUrl}/w/${WS}#token=${forged}`)
  await page.waitForSelector('#connection[data-state="closed"]')
  assert.match(await textOf(page, '.banner'), /Your sign-in is no longer accepted: token signature does not match/)
  await screenshot(page, 'refused-token')
  await page.click('.banner button:has-text("Sign in again")')
  await page.waitForSelector('textarea[name="token"]')
  assert.match(page.url(), new RegExp(`/w/${WS}$`))

  // exp has one-second resolution: 4-5 s, so a loaded machine still loads the page and goes live first.
  const shortLived = await mintToken('sue', 'viewer', WS, { name: 'Short Sue', ttlMs: 5000 })
  await openWorkspace(watched, dash.server, WS, shortLived)
  await page.waitForSelector('#connection[data-state="closed"]', { timeout: 12_000 })
  assert.match(await textOf(page, '.banner'), /token expired/)
  assert.ok(await page.isVisible('.banner button:has-text("Sign in again")'))
})

test('share links: an admin creates one with a password, a guest redeems it, the admin revokes it', async () => {
  const admin = await newPage(dash.browser)
  const guest = await newPage(dash.browser, { viewport: { width: 390, height: 844 } })
  dash.pages.push(admin, guest)
  const adminToken = await mintToken('ada', 'admin', WS, { name: 'Ada Admin' })
  await openWorkspace(admin, dash.server, WS, adminToken)
  await showPanel(admin.page, 'links')
  await admin.page.selectOption('.link-form select[name="role"]', 'editor')
  await admin.page.fill('.link-form input[name="password"]', 'open sesame')
  await admin.page.fill('.link-form input[name="maxUses"]', '3')
  await admin.page.fill('.link-form input[name="label"]', 'design review')
  await admin.page.click('.link-form button[type="submit"]')
  const urlInput = await admin.page.waitForSelector('.created-link input')
  const url = await urlInput.inputValue()
  assert.match(url, new RegExp(`^${dash.server.httpUrl}/join/[A-Za-z0-9_-]+$`))
  const linkId = url.split('/').pop()!
  await admin.page.waitForSelector(`.link-row[data-link-id="${linkId}"]:has-text("active")`)
  await screenshot(admin.page, 'share-links')

  // the guest opens it: wrong password first, then the right one
  await guest.page.goto(url)
  await guest.page.waitForSelector('input[name="name"]')
  assert.match(await textOf(guest.page, '.signin'), /invited to the workspace acme as editor/)
  await guest.page.fill('input[name="name"]', 'Gus Guest')
  await guest.page.fill('input[name="password"]', 'wrong')
  await guest.page.click('button[type="submit"]')
  await guest.page.waitForSelector('.form-error:has-text("Wrong password")')
  await screenshot(guest.page, 'join-wrong-password')
  await guest.page.fill('input[name="password"]', 'open sesame')
  await guest.page.click('button[type="submit"]')
  await guest.page.waitForURL(`**/w/${WS}`)
  await waitLive(guest.page)
  assert.match(await textOf(guest.page, '.topbar'), /Gus Guest|GG/)
  await admin.page.waitForSelector('.person:has-text("Gus Guest")', { state: 'attached' })
  await admin.page.click('button:has-text("Refresh")')
  await admin.page.waitForSelector(`.link-row[data-link-id="${linkId}"]:has-text("1 of 3")`)

  // the admin revokes it: the guest is disconnected with a readable reason, the link is refused
  await admin.page.click(`.link-row[data-link-id="${linkId}"] button[data-action="revoke"]`)
  await admin.page.click('dialog[open] button[value="ok"]')
  await admin.page.waitForSelector(`.link-row[data-link-id="${linkId}"]:has-text("revoked")`)
  await guest.page.waitForSelector('#connection[data-state="closed"]', { timeout: 5000 })
  assert.match(await textOf(guest.page, '.banner'), /revoked/)
  await screenshot(guest.page, 'revoked-guest')
  await guest.page.goto(url)
  await guest.page.waitForSelector('.refused')
  assert.match(await textOf(guest.page, '.refused'), /^This link was revoked/)
})

test('an expired share link is refused with a readable message', async () => {
  const watched = await newPage(dash.browser)
  dash.pages.push(watched)
  const adminToken = await mintToken('ada', 'admin', WS)
  const created = await api('POST', `/api/workspaces/${WS}/links`, adminToken, { role: 'viewer', expiresInMs: 1000 })
  assert.is(created.status, 201, JSON.stringify(created.json))
  const { link, url } = created.json as { link: { id: string }; url: string }
  // The server's own word that the link is past its expiry, rather than a guess at when it is.
  await waitFor(async () => (await api('GET', `/api/links/${link.id}`, null)).json.usable === false, 10_000, 'the link never expired')
  await watched.page.goto(`${dash.server.httpUrl}${url}`)
  await watched.page.waitForSelector('.refused')
  assert.match(await textOf(watched.page, '.refused'), /^This link expired/)
  await screenshot(watched.page, 'expired-link')
  await watched.page.goto(`${dash.server.httpUrl}/join/no-such-link`)
  await watched.page.waitForSelector('.refused')
  assert.match(await textOf(watched.page, '.refused'), /does not exist/)
})

test('no console errors on any page (other than the HTTP statuses it expects)', () => {
  for (const [index, page] of dash.pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`, EXPECTED_HTTP_ERRORS)
})

test.run()
