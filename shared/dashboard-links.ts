// Addresses in the dashboard that the CLI, the server and webhooks print, so a person is one click
// from what waits for them (docs/design.md §8: `/w/<workspace>#token=<jwt>` signs in on the way).

/** `base` is the server's http(s) address without a trailing slash. */
export function workspaceLink(base: string, workspace: string, token?: string): string {
  return `${base}/w/${encodeURIComponent(workspace)}${token ? `#token=${token}` : ''}`
}

/** The approvals panel with the approval's card picked out. */
export function approvalLink(base: string, workspace: string, key: string): string {
  return `${base}/w/${encodeURIComponent(workspace)}?panel=approvals&approval=${encodeURIComponent(key)}`
}

export function panelLink(base: string, workspace: string, panel: string): string {
  return `${base}/w/${encodeURIComponent(workspace)}?panel=${panel}`
}
