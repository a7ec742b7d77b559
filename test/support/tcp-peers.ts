// Loopback TCP peers for tests: a port nothing listens on, and a server that takes
// connections and never says a word (a hung mail server or bridge).
import { createServer, type Server, type Socket } from "node:net"

/** A loopback port nothing listens on (bound, then closed). */
export const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  return address.port
}

/**
 * A loopback server that accepts and stays silent; its close (destroying what it accepted)
 * goes into `cleanups`.
 */
export const silentServer = async (
  cleanups: Array<() => Promise<void>>
): Promise<{ port: number; accepted: () => number }> => {
  const sockets: Array<Socket> = []
  const server: Server = createServer((socket) => {
    socket.on("error", () => {})
    sockets.push(socket)
  })
  const port = await listenLoopback(server, sockets, cleanups)
  return { port, accepted: () => sockets.length }
}

/**
 * Listens on a free loopback port and gives it; the close goes into `cleanups`, destroying
 * `sockets` (what the server's handler keeps there) first, so the close does not wait on them.
 */
export const listenLoopback = async (
  server: Server,
  sockets: ReadonlyArray<Socket>,
  cleanups: Array<() => Promise<void>>
): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  )
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  return address.port
}
