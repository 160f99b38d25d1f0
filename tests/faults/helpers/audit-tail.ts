// A workspace's audit log as a fault test follows it: the entries that arrived since the last look,
// and waiting for the `refused` entry an attack must leave.
import { waitFor } from '../../helpers/clients.js'
import { type AuditEntry, fetchAudit } from '../../helpers/coordination-api.js'
import type { ServerLike } from '../../helpers/server.js'

export class AuditTail {
  private lastSeq = 0

  constructor(
    private readonly server: ServerLike,
    private readonly workspace: string,
    private readonly token: string,
  ) {}

  /** The entries that arrived since the last call. */
  async fresh(): Promise<AuditEntry[]> {
    const entries = await fetchAudit(this.server, this.workspace, this.token)
    const fresh = entries.filter((entry) => entry.seq > this.lastSeq)
    if (entries.length > 0) this.lastSeq = Math.max(this.lastSeq, entries[entries.length - 1]!.seq)
    return fresh
  }

  /** Waits for a new `refused` entry with `code` and a reason matching `reason`; fails naming `what`. */
  async waitRefused(code: number, reason: RegExp, what: string): Promise<AuditEntry> {
    const seen: AuditEntry[] = []
    return waitFor(
      async () => {
        seen.push(...(await this.fresh()))
        return seen.find((entry) => entry.type === 'refused' && entry.data?.code === code && reason.test(String(entry.data?.reason ?? '')))
      },
      5000,
      () =>
        `${what}: no refused audit entry with code ${code} and reason ${reason} (new entries: ${JSON.stringify(seen.map((entry) => [entry.type, entry.data?.code, entry.data?.reason]))})`,
    )
  }
}
