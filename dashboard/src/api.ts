// The REST API (`/api/...`): JSON in, JSON out, errors as `{error: "<readable message>"}`.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface RequestOptions {
  token?: string
  body?: unknown
}

export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) })
  } catch {
    throw new ApiError(0, navigator.onLine ? 'cannot reach the Huddle server: check that it is running' : 'you are offline')
  }
  let body: unknown = null
  try {
    body = await response.json()
  } catch {
    // not JSON: handled below
  }
  if (!response.ok) {
    const message =
      body && typeof (body as { error?: unknown }).error === 'string'
        ? (body as { error: string }).error
        : `the server answered ${response.status} ${response.statusText}`
    throw new ApiError(response.status, message)
  }
  return body as T
}

export function workspacePath(workspace: string, ...rest: string[]): string {
  return ['/api/workspaces', encodeURIComponent(workspace), ...rest].join('/')
}
