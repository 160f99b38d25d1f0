// A stable colour per actor, so everyone sees the same person in the same colour in every client.
export function colorFor(actor: string): string {
  let hash = 0
  for (let i = 0; i < actor.length; i++) hash = (hash * 31 + actor.charCodeAt(i)) >>> 0
  return hslToHex(hash % 360, 65, 45)
}

function hslToHex(h: number, s: number, l: number): string {
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100)
  const channel = (n: number) => {
    const k = (n + h / 30) % 12
    const value = l / 100 - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(255 * value)
      .toString(16)
      .padStart(2, '0')
  }
  return `#${channel(0)}${channel(8)}${channel(4)}`
}
