// Document history (docs/design.md, history) through the server's REST API: versions with their authors,
// diff between versions, blame per line, labelled versions and revert. Exposed as `huddle.docs`.
import type { BlameLine, DocDiff, LastEdit, VersionContent, VersionInfo } from '../shared/history.js'
import { parseRoom } from '../shared/names.js'
import type { HuddleApi } from './api.js'
import { HuddleError } from './errors.js'

// The wire types live in shared/ (the server and dashboard use the same ones); re-exported for index.ts.
export type { BlameLine, DiffChange, DocDiff, LastEdit, VersionActor, VersionContent, VersionInfo } from '../shared/history.js'

export interface DiffOptions {
  /** a version id (default: the latest version) */
  from?: number | 'current'
  /** a version id or 'current' (default) */
  to?: number | 'current'
}

export class DocumentHistory {
  /** `session`: this client's own, sent with a revert so that holding a doc:<path> lock lets it through */
  constructor(
    private readonly api: HuddleApi,
    private readonly session?: string,
  ) {}

  /** The versions of the document at `path`, newest first. */
  async history(path: string): Promise<VersionInfo[]> {
    return ((await this.call('GET', path, 'versions')) as { versions: VersionInfo[] }).versions
  }

  /** What the document held at version `id`. */
  async version(path: string, id: number): Promise<VersionContent> {
    return (await this.call('GET', path, `versions/${versionId(id)}`)) as VersionContent
  }

  /** Takes a version now, named `label` (kept whatever the retention); resolves with its id. */
  async label(path: string, label: string): Promise<number> {
    return ((await this.call('POST', path, 'versions', { label })) as { id: number }).id
  }

  async diff(path: string, options: DiffOptions = {}): Promise<DocDiff> {
    const query = new URLSearchParams()
    if (options.from !== undefined) query.set('from', point(options.from))
    query.set('to', point(options.to ?? 'current'))
    return (await this.call('GET', path, `diff?${query}`)) as DocDiff
  }

  /** Per line of the text `name` (default `body`): who last wrote it, when, in which version. */
  async blame(path: string, options: { name?: string } = {}): Promise<BlameLine[]> {
    const query = options.name ? `?name=${encodeURIComponent(options.name)}` : ''
    return ((await this.call('GET', path, `blame${query}`)) as { lines: BlameLine[] }).lines
  }

  /**
   * Makes the document hold version `id` again, as a new change by you; resolves with the version
   * after it. Refused ('conflict') while another session holds the lock `doc:<path>`.
   */
  async revert(path: string, id: number): Promise<number> {
    const body = { version: versionId(id), ...(this.session ? { session: this.session } : {}) }
    return ((await this.call('POST', path, 'revert', body)) as { version: number }).version
  }

  /** Every document of the workspace with who changed it last and when, from the server's attribution. */
  async lastEdits(): Promise<LastEdit[]> {
    return ((await this.api.call('GET', '/history/last-edits')) as { documents: LastEdit[] }).documents
  }

  private call(method: string, path: string, what: string, json?: unknown): Promise<unknown> {
    const room = parseRoom(`${this.api.workspace}/${path}`)
    if (typeof room === 'string' || room.path === null)
      throw new HuddleError('invalid-argument', typeof room === 'string' ? room : 'give a document path, e.g. notes/plan.md')
    return this.api.call(method, `/docs/${room.path}/${what}`, json)
  }
}

function versionId(id: number): number {
  if (!Number.isInteger(id) || id < 1) throw new HuddleError('invalid-argument', `a version id is a whole number from 1 (see history()), not ${id}`)
  return id
}

function point(value: number | 'current'): string {
  return value === 'current' ? value : String(versionId(value))
}
