import {createConnection, createServer, type Server, type Socket} from 'node:net'

/** What a test does with one connection's traffic: pass a chunk on (true), or answer or drop it itself (false). */
export interface ProxyHooks {
  request?(chunk: Buffer, client: Socket): boolean
  answer?(chunk: Buffer, client: Socket): boolean
}

/**
 * A proxy in front of this machine's engine socket, listening on `socket`, that lets a test play
 * an engine's part: each connection gets its own hooks (`connect`), which see every request chunk
 * and every answer chunk first. A connection closed or failing on either side closes the other.
 */
export async function engineProxy(socket: string, connect: () => ProxyHooks): Promise<Server> {
  const server = createServer((client) => {
    const hooks = connect()
    const upstream = createConnection('/var/run/docker.sock')
    client.on('data', (chunk) => {
      if (hooks.request?.(chunk, client) ?? true) upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (hooks.answer?.(chunk, client) ?? true) client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  return server
}
