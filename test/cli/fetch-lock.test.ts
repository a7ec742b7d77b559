// The lock that keeps two `pop3 fetch` runs of one account apart (core/cli/fetch-lock.ts),
// on real files: held, waited for, released, and taken over from a run that died.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { acquireFetchLock, LockHeld, lockPath } from "../../core/cli/fetch-lock.ts"

const ALICE = "alice@pop.example.com:995"
const BOB = "bob@pop.example.com:995"
const stateIn = () => join(mkdtempSync(join(tmpdir(), "pop3-lock-")), ".pop3-state.json")
/** The pid of a process that has ended: a run that died. */
const deadPid = (): number => {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" })
  return Number(child.stdout)
}

describe("the fetch lock", () => {
  it("is held against the same account (waits, then says who holds it and where), not against another", async () => {
    const state = stateIn()
    const release = await acquireFetchLock(state, ALICE)
    expect(readFileSync(lockPath(state, ALICE), "utf8")).toBe(`${process.pid} ${hostname()}\n`)
    const refused = await acquireFetchLock(state, ALICE, { waitMs: 300 }).then(
      () => undefined,
      (error: unknown) => error
    )
    expect(refused).toBeInstanceOf(LockHeld)
    expect((refused as Error).message).toBe(
      `another pop3 fetch (pid ${process.pid} on ${hostname()}) is fetching this account with it (waited 0.3 s; if none is running, remove ${lockPath(state, ALICE)})`
    )
    // Another account of the same state file: at once.
    const releaseBob = await acquireFetchLock(state, BOB, { waitMs: 0 })
    await releaseBob()
    await release()
    expect(existsSync(lockPath(state, ALICE))).toBe(false)
  })

  it("goes to the run that waits as soon as the holder releases it", async () => {
    const state = stateIn()
    const release = await acquireFetchLock(state, ALICE)
    const order: Array<string> = []
    const waiting = acquireFetchLock(state, ALICE, { waitMs: 10_000 }).then((next) => {
      order.push("second has it")
      return next
    })
    await new Promise((resolve) => setTimeout(resolve, 250))
    order.push("first releases")
    await release()
    const releaseSecond = await waiting
    expect(order).toEqual(["first releases", "second has it"])
    await releaseSecond()
  })

  it("is taken over from a run that died (its process is gone), at once", async () => {
    const state = stateIn()
    const dead = deadPid()
    writeFileSync(lockPath(state, ALICE), `${dead} ${hostname()}\n`)
    const release = await acquireFetchLock(state, ALICE, { waitMs: 0 })
    expect(readFileSync(lockPath(state, ALICE), "utf8")).toBe(`${process.pid} ${hostname()}\n`)
    await release()
  })

  it("is not taken over from another host (that process cannot be checked from here)", async () => {
    const state = stateIn()
    writeFileSync(lockPath(state, ALICE), `${deadPid()} other-host.example\n`)
    await expect(acquireFetchLock(state, ALICE, { waitMs: 150 })).rejects.toThrow(
      /on other-host\.example\) is fetching/
    )
    expect(readFileSync(lockPath(state, ALICE), "utf8")).toMatch(/ other-host\.example\n$/)
  })

  it("an empty lock file is a run writing it now; older than 10 s, one that died", async () => {
    const state = stateIn()
    const path = lockPath(state, ALICE)
    writeFileSync(path, "")
    await expect(acquireFetchLock(state, ALICE, { waitMs: 150 })).rejects.toThrow(/^another run is fetching/)
    const aMinuteAgo = new Date(Date.now() - 60_000)
    utimesSync(path, aMinuteAgo, aMinuteAgo)
    const release = await acquireFetchLock(state, ALICE, { waitMs: 0 })
    await release()
  })

  it("a lock it cannot read (a directory in its place) is held, and waited for: no busy loop", async () => {
    const state = stateIn()
    mkdirSync(lockPath(state, ALICE))
    await expect(acquireFetchLock(state, ALICE, { waitMs: 150 })).rejects.toThrow(/^another run is fetching/)
  })

  it("a release leaves a lock that is no longer its own alone", async () => {
    const state = stateIn()
    const release = await acquireFetchLock(state, ALICE)
    writeFileSync(lockPath(state, ALICE), `1 other-host.example\n`)
    await release()
    expect(readFileSync(lockPath(state, ALICE), "utf8")).toBe("1 other-host.example\n")
  })
})
