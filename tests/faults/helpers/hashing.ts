// What hashing share-link passwords costs the other requests: an audit read's latency alone and
// while 80 wrong passwords are checked at once, on a server with the attempt limit lifted.
import { mintToken } from '../../helpers/clients.js'
import { TestServer } from '../../helpers/server.js'
import type { Recorder } from './report.js'

/** An audit read's latency alone and while 80 wrong passwords are hashed at once (reported only). */
export async function measureHashing(r: Recorder): Promise<void> {
  const own = await TestServer.start({ args: ['--link-attempts', '1000'] })
  try {
    const ws = 'hashing'
    const admin = await mintToken('root', 'admin', ws)
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${admin}` }
    const link = (await (
      await fetch(`${own.httpUrl}/api/workspaces/${ws}/links`, { method: 'POST', headers, body: JSON.stringify({ role: 'viewer', password: 'correct horse' }) })
    ).json()) as { link: { id: string } }
    const read = async () => {
      const started = performance.now()
      await (await fetch(`${own.httpUrl}/api/workspaces/${ws}/audit?limit=100`, { headers })).json()
      return performance.now() - started
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
    const alone: number[] = []
    await read()
    for (let i = 0; i < 10; i++) alone.push(await read())
    const guesses = Array.from({ length: 80 }, (_, i) =>
      fetch(`${own.httpUrl}/api/links/${link.link.id}/redeem`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: `wrong-guess-${i}` }),
      }).then((response) => response.status),
    )
    const during: number[] = []
    let settled = false
    const all = Promise.all(guesses).finally(() => (settled = true))
    while (!settled && during.length < 50) during.push(await read())
    const statuses = await all
    r.set('audit read ms alone (median)', Number(median(alone).toFixed(1)))
    r.set('audit read ms while 80 passwords are hashed (median)', Number(median(during).toFixed(1)))
    r.set('audit read ms while 80 passwords are hashed (max)', Number(Math.max(...during).toFixed(1)))
    r.set(
      'wrong passwords answered 401 / 503 (busy)',
      `${statuses.filter((status) => status === 401).length} / ${statuses.filter((status) => status === 503).length}`,
    )
  } finally {
    await own.dispose()
  }
}
