// Maildir delivery (core/cli/maildir.ts) both ways it runs: inline (synchronous calls, while
// fsync returns at once) and through the thread pool (where fsync waits for a device). Both
// must leave the same file in new/, nothing in tmp/, and clean up after a failure.
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import fc from "fast-check"
import { crlfToLfInto, keyOfFileName, makeCrlfToLf, messageKey, openMaildir } from "../../core/cli/maildir.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const tempMaildir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "pop3-maildir-"))
  dirs.push(dir)
  return join(dir, "Maildir")
}

const bytes = (text: string) => new TextEncoder().encode(text)

describe.each(["inline", "thread-pool", "auto"] as const)("deliver (%s)", (deliveries) => {
  it("writes the message with LF line ends into new/, mode 0600, named by its key; tmp/ stays empty", async () => {
    const root = tempMaildir()
    const maildir = await openMaildir(root, { deliveries })
    const key = messageKey("alice@pop.example", "uid-1")
    const path = await maildir.deliver(key, bytes("Subject: a\r\n\r\nline 1\r\na lone\rCR\r\nlast\r"))
    expect(path.startsWith(join(root, "new") + "/")).toBe(true)
    expect(readFileSync(path, "latin1")).toBe("Subject: a\n\nline 1\na lone\rCR\nlast\r")
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(keyOfFileName(readdirSync(join(root, "new"))[0]!)).toBe(key)
    expect(readdirSync(join(root, "tmp"))).toEqual([])
    // Another program's message in cur/ has no key of ours.
    writeFileSync(join(root, "cur", "1700000000.M1P2.otherhost:2,S"), "Subject: b\n")
    expect(await maildir.keys()).toEqual(new Set([key]))
  })

  it("many messages in a row get distinct names and exact contents", async () => {
    const root = tempMaildir()
    const maildir = await openMaildir(root, { deliveries })
    const paths = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        maildir.deliver(messageKey("a", `u${i}`), bytes(`Subject: ${i}\r\n\r\n${"x".repeat(i * 100)}\r\n`))
      )
    )
    expect(new Set(paths).size).toBe(50)
    paths.forEach((p, i) => expect(readFileSync(p, "latin1")).toBe(`Subject: ${i}\n\n${"x".repeat(i * 100)}\n`))
    expect(readdirSync(join(root, "new"))).toHaveLength(50)
    expect(readdirSync(join(root, "tmp"))).toEqual([])
  })

  it("a smaller message after a larger one holds only its own bytes (inline deliveries reuse one buffer)", async () => {
    const root = tempMaildir()
    const maildir = await openMaildir(root, { deliveries })
    // Over and under the reused buffer's bound, growing and shrinking, CRLFs to drop in each.
    const sizes = [3000, 70_000, 10, 1_100_000, 500, 0, 2_000_000, 40]
    const paths: Array<string> = []
    for (const [i, size] of sizes.entries())
      paths.push(await maildir.deliver(messageKey("a", `s${i}`), bytes(`S: ${i}\r\n\r\n${"y".repeat(size)}\r\n`)))
    paths.forEach((p, i) => expect(readFileSync(p, "latin1")).toBe(`S: ${i}\n\n${"y".repeat(sizes[i]!)}\n`))
  })

  it("a rename that fails (new/ is no directory) fails the delivery and removes the temporary file", async () => {
    const root = tempMaildir()
    const maildir = await openMaildir(root, { deliveries })
    renameSync(join(root, "new"), join(root, "new.moved"))
    writeFileSync(join(root, "new"), "not a directory")
    const failure = await (async () => {
      try {
        await maildir.deliver(messageKey("a", "u"), bytes("Subject: x\r\n\r\nbody\r\n"))
        return undefined
      } catch (error) {
        return error as NodeJS.ErrnoException
      }
    })()
    expect(failure?.code).toBe("ENOTDIR")
    expect(readdirSync(join(root, "tmp"))).toEqual([])
  })
})

const tempBase = (): string => join(tempMaildir(), "..")

describe("openMaildir", () => {
  it("creates the missing levels of the path, each mode 0700", async () => {
    const base = tempBase()
    const root = join(base, "a", "b", "Maildir")
    await openMaildir(root)
    for (const level of [
      join(base, "a"),
      join(base, "a", "b"),
      root,
      join(root, "tmp"),
      join(root, "new"),
      join(root, "cur")
    ])
      expect(statSync(level).mode & 0o777).toBe(0o700)
  })

  // Node's recursive mkdir retried forever (full CPU) where mkdir answers ENOENT under an existing parent.
  it("under /proc: refused with ENOENT, at once", async () => {
    await expect(openMaildir("/proc/pop3-test/Maildir")).rejects.toMatchObject({ code: "ENOENT" })
  })

  it("a file in the way: ENOTDIR or EEXIST, nothing created", async () => {
    const base = tempBase()
    writeFileSync(join(base, "file"), "")
    await expect(openMaildir(join(base, "file"))).rejects.toMatchObject({ code: "ENOTDIR" })
    await expect(openMaildir(join(base, "file", "Maildir"))).rejects.toMatchObject({ code: "ENOTDIR" })
  })
})

describe("messageKey", () => {
  // Keys name files already in users' Maildirs: a run must recognise what an earlier
  // version stored, so the value of a key never changes.
  it("is the first 24 hex digits of SHA-256 over account, NUL, UID (as in every earlier version)", () => {
    expect(messageKey("alice@pop.example:995", "uid-1")).toBe("89525ff3adf3247935765bc4")
    expect(messageKey("Jürgen@[::1]:110", "ü/≠ 7")).toBe("fc9db7b9768b9a484a6794cf")
  })
})

describe("deliver", () => {
  it("inline: complete when it returns (no promise)", async () => {
    const maildir = await openMaildir(tempMaildir(), { deliveries: "inline" })
    const result = maildir.deliver(messageKey("a", "u"), bytes("x\r\n"))
    expect(typeof result).toBe("string")
    expect(readFileSync(result as string, "latin1")).toBe("x\n")
  })

  it("thread pool: a promise, and nothing in new/ before it resolves", async () => {
    const root = tempMaildir()
    const maildir = await openMaildir(root, { deliveries: "thread-pool" })
    const result = maildir.deliver(messageKey("a", "u"), bytes("x\r\n"))
    expect(result).toBeInstanceOf(Promise)
    expect(readdirSync(join(root, "new"))).toEqual([])
    expect(readFileSync(await result, "latin1")).toBe("x\n")
  })
})

describe("deliver (auto): inline or the thread pool, by how long fsync takes", () => {
  /** A clock under which the nth fsync timed takes `fsyncs[n]` ms (0 once they run out). */
  const fsyncClock = (fsyncs: ReadonlyArray<number>) => {
    let t = 0
    let calls = 0
    let n = 0
    // Each timed fsync reads the clock twice: before and after.
    return () => {
      if (++calls % 2 === 0) t += fsyncs[n++] ?? 0
      return t
    }
  }
  /** "i" for a delivery complete on return, "p" for one in the thread pool; all awaited. */
  const deliverMany = async (root: string, count: number, fsyncs: ReadonlyArray<number>) => {
    const maildir = await openMaildir(root, { deliveries: "auto", now: fsyncClock(fsyncs) })
    const ways: Array<string> = []
    for (let i = 0; i < count; i++) {
      const result = maildir.deliver(messageKey("a", `u${i}`), bytes(`m${i}\r\n`))
      ways.push(typeof result === "string" ? "i" : "p")
      await result
    }
    return ways.join("")
  }

  it("one slow fsync keeps deliveries inline; two in a row send the next to the thread pool", async () => {
    const root = tempMaildir()
    expect(await deliverMany(root, 6, [1, 0, 1, 1])).toBe("iiiipp")
    expect(readdirSync(join(root, "new"))).toHaveLength(6)
    expect(readdirSync(join(root, "tmp"))).toEqual([])
  })

  it("in the thread pool every 256th is timed inline: a slow one stays there, a quick one comes back", async () => {
    const root = tempMaildir()
    // Two slow (to the pool), the first probe slow, the second quick.
    const ways = await deliverMany(root, 2 + 256 + 256 + 3, [1, 1, 1, 0])
    expect(ways).toBe(`ii${"p".repeat(255)}i${"p".repeat(255)}iiii`)
    const files = readdirSync(join(root, "new"))
    expect(files).toHaveLength(ways.length)
    expect(new Set(files.map((f) => readFileSync(join(root, "new", f), "latin1"))).size).toBe(ways.length)
  })
})

// Short messages of the four bytes that matter (CR, LF, a letter, a dot), and where to cut them.
const fourSymbols = fc.array(fc.constantFrom(0x0d, 0x0a, 0x41, 0x2e), { maxLength: 60 }).map((a) => Uint8Array.from(a))
const cutPoints = fc.array(fc.nat(60), { maxLength: 6 })

/** `m` cut at `cuts` (each taken modulo its length + 1), in order: the chunks a socket might deliver. */
const chunksOf = (m: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const at = [...new Set(cuts.map((c) => c % (m.length + 1)))].sort((a, b) => a - b)
  let from = 0
  return [...at, m.length].map((cut) => {
    const chunk = m.subarray(from, cut)
    from = cut
    return chunk
  })
}

describe("crlfToLfInto", () => {
  it("property: a whole message converts as the chunked converter converts it", () => {
    fc.assert(
      fc.property(fourSymbols, (m) => {
        const chunked = makeCrlfToLf()
        const expected = [...chunked.push(m), ...chunked.end()]
        const out = new Uint8Array(m.length + 3).fill(0x7e)
        const n = crlfToLfInto(m, out)
        expect([...out.subarray(0, n)]).toEqual(expected)
      }),
      { numRuns: 2000 }
    )
  })

  it("property: runs long and short (copied whole, or byte by byte) convert as the reference does", () => {
    // Runs of up to 300 bytes between line ends: both of crlfToLfInto's paths and their seams.
    const piece = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((n) => "A".repeat(n)),
      fc.constantFrom("\r", "\n", "\r\n", ".", "\r\r\n")
    )
    const message = fc.array(piece, { maxLength: 40 }).map((parts) => Buffer.from(parts.join(""), "latin1"))
    const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")
    fc.assert(
      fc.property(message, (m) => {
        const out = new Uint8Array(m.length + 3).fill(0x7e)
        const n = crlfToLfInto(m, out)
        expect(latin1(out.subarray(0, n))).toBe(latin1(m).replace(/\r\n/g, "\n"))
        // It works within the first bytes.length of out (compacting there), never past them.
        expect([...out.subarray(m.length)].every((b) => b === 0x7e)).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })

  it("property: chunks converted into one reused buffer (a streamed delivery's) come out as into new ones", () => {
    fc.assert(
      fc.property(fourSymbols, cutPoints, (m, cuts) => {
        const fresh = makeCrlfToLf()
        const reusing = makeCrlfToLf()
        const into = new Uint8Array(m.length + 1)
        for (const chunk of chunksOf(m, cuts)) {
          into.fill(0x7e)
          expect([...reusing.push(chunk, into)]).toEqual([...fresh.push(chunk)])
        }
        expect([...reusing.end()]).toEqual([...fresh.end()])
      }),
      { numRuns: 1000 }
    )
  })

  it("property: any chunking converts as the whole does, and both only drop a CR before a LF", () => {
    fc.assert(
      fc.property(fourSymbols, cutPoints, (m, cuts) => {
        const chunked = makeCrlfToLf()
        const out: Array<number> = []
        for (const chunk of chunksOf(m, cuts)) out.push(...chunked.push(chunk))
        out.push(...chunked.end())
        const latin1 = (bytes: Iterable<number>) => String.fromCharCode(...bytes)
        expect(latin1(out)).toBe(latin1(m).replace(/\r\n/g, "\n"))
      }),
      { numRuns: 2000 }
    )
  })
})
