// Change sets (docs/agents.md) through the server's REST API: propose new text for several
// documents at once, with or without an approval, then follow it to a final status. Exposed as
// `huddle.changesets`.
import { toBase64 } from 'lib0/buffer'
import type { ChangeSetStatus } from '../shared/changesets.js'
import type { HuddleApi } from './api.js'
import { HuddleError } from './errors.js'

export type { ChangeSetStatus }

export interface ChangeSetInfo {
  id: string
  title: string
  status: ChangeSetStatus
  createdAt: number
  updatedAt: number
  proposer: { actor: string; name: string; kind: string }
  /** per document: the unified diff from the text it was proposed against (absent in list()), and whether it moved since */
  docs: Record<string, { patch?: string; moved?: boolean }>
  /** documents someone else changed between the proposal and the apply (the change was merged) */
  moved?: string[]
  approval?: { key: string; quorum?: number; approvers?: string[] }
  reason?: string
  by?: string
}

export interface ProposeOptions {
  title: string
  /** new text per document path (`Uint8Array`: a Yjs update against the document's current state) */
  docs: Record<string, string | Uint8Array>
  /** ask for an approval first; the server applies the change set once it is approved */
  approval?: boolean | { quorum?: number; approvers?: string[]; expiresInMs?: number }
}

const FINAL: readonly ChangeSetStatus[] = ['applied', 'rejected', 'expired', 'cancelled', 'conflict', 'reverted']

export class ChangeSets {
  constructor(
    private readonly api: HuddleApi,
    /** this client's session: the locks it holds do not stop its own change sets (none: the proposer's locks do not) */
    private readonly session: () => string | undefined = () => undefined,
  ) {}

  /** Proposes the change set; resolves with its id and first status (pending, or conflict). */
  async propose(options: ProposeOptions): Promise<{ id: string; status: ChangeSetStatus; reason?: string }> {
    const docs = Object.fromEntries(
      Object.entries(options.docs).map(([path, value]) => [path, typeof value === 'string' ? { text: value } : { update: toBase64(value) }]),
    )
    const approval = options.approval === true ? {} : options.approval || undefined
    const session = this.session()
    const body = { title: options.title, docs, ...(session ? { session } : {}), ...(approval ? { approval } : {}) }
    return (await this.api.call('POST', '/changesets', body)) as { id: string; status: ChangeSetStatus; reason?: string }
  }

  async get(id: string): Promise<ChangeSetInfo> {
    return (await this.api.call('GET', `/changesets/${encodeURIComponent(id)}`)) as ChangeSetInfo
  }

  /** Every change set of the workspace, without patches. */
  async list(): Promise<ChangeSetInfo[]> {
    return ((await this.api.call('GET', '/changesets')) as { changesets: ChangeSetInfo[] }).changesets
  }

  /** Applies a change set that needs no approval. */
  async apply(id: string): Promise<ChangeSetInfo> {
    return (await this.api.call('POST', `/changesets/${encodeURIComponent(id)}/apply`)) as ChangeSetInfo
  }

  async cancel(id: string): Promise<ChangeSetInfo> {
    return (await this.api.call('POST', `/changesets/${encodeURIComponent(id)}/cancel`)) as ChangeSetInfo
  }

  /** Takes an applied change set out of its documents again, as one change. */
  async revert(id: string): Promise<ChangeSetInfo> {
    return (await this.api.call('POST', `/changesets/${encodeURIComponent(id)}/revert`)) as ChangeSetInfo
  }

  /** Resolves once the change set reaches a final status (applied, rejected, …); polls the server. */
  async wait(id: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<ChangeSetInfo> {
    const deadline = Date.now() + (options.timeoutMs ?? 24 * 3600_000)
    for (;;) {
      const info = await this.get(id)
      if (FINAL.includes(info.status)) return info
      if (Date.now() >= deadline) throw new HuddleError('timeout', `change set ${id} is still ${info.status}; wait() again or check its approval`)
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500))
    }
  }
}
