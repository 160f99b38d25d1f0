// Entry point: `/` signs in, `/join/<link>` redeems a share link, `/w/<workspace>` is the
// workspace page (which also takes `#token=<jwt>`, kept for this tab and removed from the URL).
import { checkWorkspace } from '../../shared/names.js'
import { coversWorkspace, currentUser, meFromToken, storedToken, takeTokenFromFragment } from './auth.js'
import { mountJoin } from './join.js'
import { mountSignIn } from './signin.js'
import { mountWorkspace } from './workspace.js'

function start(): void {
  const root = document.getElementById('app')!
  const path = location.pathname
  const join = /^\/join\/([^/]+)\/?$/.exec(path)
  if (join) {
    void mountJoin(root, decodeURIComponent(join[1]!))
    return
  }
  const ws = /^\/w\/([^/]+)\/?$/.exec(path)
  if (!ws) {
    mountSignIn(root)
    return
  }
  const workspace = decodeURIComponent(ws[1]!)
  const bad = checkWorkspace(workspace)
  if (bad) {
    mountSignIn(root, { message: bad })
    return
  }
  takeTokenFromFragment()
  const me = currentUser()
  if (!me) {
    const token = storedToken()
    const problem = token ? meFromToken(token) : null
    mountSignIn(root, { workspace, ...(typeof problem === 'string' ? { message: problem } : {}) })
    return
  }
  if (!coversWorkspace(me, workspace)) {
    mountSignIn(root, {
      workspace,
      message: `You are signed in as ${me.name} for workspace “${me.workspace}”, not “${workspace}”: sign in with a token for ${workspace}.`,
    })
    return
  }
  mountWorkspace(root, workspace, me)
}

// A `#token=` link opened in a tab already showing the page only changes the fragment: take the
// token and start again with it.
addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) location.reload()
})

start()
