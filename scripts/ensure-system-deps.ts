// npm `pretest`: installs the Debian packages the test suite runs against, when it can.
// It never fails the run: the tests themselves decide to fail (CI) or skip (a laptop)
// when something is still missing, so this script exits 0 whatever happens.
import { spawnSync } from "node:child_process"
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"

interface Requirement {
  readonly what: string
  readonly file: string
  readonly packages: ReadonlyArray<string>
}

const requirements: ReadonlyArray<Requirement> = [
  { what: "dovecot", file: "/usr/sbin/dovecot", packages: ["dovecot-core"] },
  { what: "dovecot pop3", file: "/usr/lib/dovecot/pop3", packages: ["dovecot-pop3d"] },
  { what: "openssl", file: "/usr/bin/openssl", packages: ["openssl"] },
  // The browser tests (core in Chromium, the web demo end to end) drive Debian's Chromium.
  { what: "chromium", file: "/usr/bin/chromium", packages: ["chromium"] }
]

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const missing = requirements.filter((r) => !executable(r.file))
if (missing.length === 0) process.exit(0)

const packages = [...new Set(missing.flatMap((r) => r.packages))]
const what = missing.map((r) => r.what).join(", ")
const command = `apt-get install -y --no-install-recommends ${packages.join(" ")}`
const isRoot = process.getuid?.() === 0

if (!isRoot || !executable("/usr/bin/apt-get")) {
  const how = executable("/usr/bin/apt-get")
    ? `sudo apt-get update && sudo ${command}`
    : `install ${packages.join(", ")}`
  console.error(`ensure-system-deps: missing ${what}; to install: ${how}`)
  process.exit(0)
}

console.error(`ensure-system-deps: missing ${what}; installing ${packages.join(" ")}`)

// Debian's postinst would start the system Dovecot (ports 110/995) through invoke-rc.d;
// a policy-rc.d answering 101 forbids that. Leave an existing policy alone.
const policy = "/usr/sbin/policy-rc.d"
const ownPolicy = !existsSync(policy)
const systemPid = "/run/dovecot/master.pid"
const systemDovecotWasRunning = alive(systemPid)

const run = (args: ReadonlyArray<string>): boolean => {
  console.error(`+ ${args.join(" ")}`)
  const [bin, ...rest] = args
  const result = spawnSync(bin ?? "", rest, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  })
  return result.status === 0
}

let ok = false
try {
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 })
  ok = run(["apt-get", "update"]) && run(command.split(" "))
} finally {
  if (ownPolicy) rmSync(policy, { force: true })
}

// With systemd the unit may still have been started; stop only what the install started.
if (!systemDovecotWasRunning && alive(systemPid)) {
  console.error("ensure-system-deps: stopping the system dovecot service that the install started")
  if (!run(["/usr/sbin/dovecot", "stop"])) run(["systemctl", "stop", "dovecot"])
}

const still = requirements.filter((r) => !executable(r.file)).map((r) => r.what)
if (!ok || still.length > 0) {
  console.error(
    `ensure-system-deps: still missing ${still.join(", ") || "nothing"} (apt-get ${ok ? "succeeded" : "failed"})`
  )
}
process.exit(0)

function alive(pidFile: string): boolean {
  try {
    process.kill(Number.parseInt(readFileSync(pidFile, "utf8"), 10), 0)
    return true
  } catch {
    return false
  }
}
