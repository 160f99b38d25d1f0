// The REST API through the client library's `HuddleApi` (one fetch wrapper for every client); what
// stays here is the page's side: the server's own origin, and error text fit for a page.
import { HuddleApi } from '../../client-lib/api.js'
import { HuddleError } from '../../client-lib/errors.js'
import type { Me } from './auth.js'

/** The REST API of `workspace` on the server that served this page, as `me`. */
export function restApi(me: Me, workspace: string): HuddleApi {
  return new HuddleApi({ url: location.origin, workspace, token: me.token })
}

/** The HTTP status of a failed REST call, or 0 when the server was not reached or not asked. */
export function failedStatus(error: unknown): number {
  return error instanceof HuddleError ? (error.http?.status ?? 0) : 0
}

/** A failed call in words for the page: the server's reason, without the URL the CLI shows. */
export function failureText(error: unknown): string {
  if (error instanceof HuddleError && error.http) return error.http.message
  if (error instanceof HuddleError && error.code === 'unreachable') {
    return navigator.onLine ? 'cannot reach the Huddle server: check that it is running' : 'you are offline'
  }
  return error instanceof Error ? error.message : String(error)
}
