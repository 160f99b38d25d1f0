// A REST call forwarded to a workspace's owner arrives from the forwarding node, not the client.
// The client's address (what the share-link password limit counts by) travels in a header signed
// with the cluster's secret, so a client cannot claim another address by sending it itself.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const ADDRESS = 'x-huddle-client-address'
const PROOF = 'x-huddle-client-proof'

export class ClientAddresses {
  constructor(private readonly key: Uint8Array) {}

  /** The headers a forwarded request carries: the address the client connected from, signed. */
  headers(request: IncomingMessage): Record<string, string> {
    const address = request.socket.remoteAddress ?? 'unknown'
    return { [ADDRESS]: address, [PROOF]: this.sign(address) }
  }

  /** The client's address: the signed one a node forwarded, else the socket's. */
  of(request: IncomingMessage): string {
    const claimed = request.headers[ADDRESS]
    const proof = request.headers[PROOF]
    if (typeof claimed === 'string' && typeof proof === 'string') {
      const expected = Buffer.from(this.sign(claimed))
      const given = Buffer.from(proof)
      if (given.length === expected.length && timingSafeEqual(given, expected)) return claimed
    }
    return request.socket.remoteAddress ?? 'unknown'
  }

  private sign(address: string): string {
    return createHmac('sha256', this.key).update(`huddle client address\n${address}`).digest('base64url')
  }
}
