import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ENGINE_NEED} from '../../src/nesting/budgets.js'
import {cli, type HostSnapshot, integrationEngine, type PsLevel, psLevels, shAt, snapshot, upFresh} from '../support/integration.js'

/**
 * Resource budgets (budgets.ts) on a real nest: a depth-3 nest with `--memory 1g --cpus 1 --cpus
 * 0.5@3 --pids 512`, each level's budget its parent's less its engine's need, enforced by the kernel at every
 * level (each parent's engine bounds its child), shown inside (nproc, free, docker info) and by
 * `ps` (budget, use, OOM kills). The memory hog, the busy loops and the fork bomb run in
 * containers at level 3.
 */
const engine = await integrationEngine()
const NEST = 'itest-budgets'
const PLAIN = 'itest-budgets-plain'
const MiB = 2 ** 20
/** The small image every level carries (pack-images.sh). */
const busybox = 'busybox'

const budgets = async () => (await psLevels(NEST)).levels
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls ps until `ready` holds for its levels, for up to `ms`; returns the last levels read. */
async function waitForLevels(ready: (levels: PsLevel[]) => boolean, ms: number): Promise<PsLevel[]> {
  const deadline = Date.now() + ms
  let levels = await budgets()
  while (!ready(levels) && Date.now() < deadline) {
    await sleep(500)
    levels = await budgets()
  }
  return levels
}

describe.skipIf(!engine)('budgets per level', () => {
  let before: HostSnapshot

  beforeAll(async () => {
    await cli(['down', '--name', PLAIN])
    // Level 3 gets half a CPU of its own: the quota, not only the one CPU it runs on, must hold it.
    before = await upFresh(NEST, ['--depth', '3', '--memory', '1g', '--cpus', '1', '--cpus', '0.5@3', '--pids', '512'])
  }, 300_000)

  afterAll(async () => {
    await cli(['down', '--name', PLAIN])
    await cli(['down', '--name', NEST])
  })

  it("gives each level its parent's budget less its engine's need, as the kernel has it", async () => {
    const levels = await budgets()
    expect(levels.map((level) => level.state)).toEqual(['running', 'running', 'running'])
    expect(levels.map((level) => level.budget?.memoryBytes)).toEqual([1024, 1024 - 128, 1024 - 256].map((mb) => mb * MiB))
    expect(levels.map((level) => level.budget?.pids)).toEqual([512, 512 - ENGINE_NEED.pids, 512 - 2 * ENGINE_NEED.pids])
    expect(levels.map((level) => level.budget?.cpus)).toEqual([1, 1, 0.5])
    // One CPU, the same one all the way down (a level's CPUs are the first of its parent's).
    const cpusets = levels.map((level) => level.budget?.cpuset)
    expect(cpusets[0]).toMatch(/^\d+$/)
    expect(new Set(cpusets).size).toBe(1)
    expect(levels.map((level) => level.budget?.oomKills)).toEqual([0, 0, 0])
    for (const level of levels) expect(level.budget?.pidsUsed, `level ${level.level}'s tasks`).toBeGreaterThan(0)
  })

  it('shows level 3 its own budget: nproc, free and docker info', async () => {
    const inside = await shAt(NEST, 3, "nproc; free -m | awk '/^Mem:/ { print $2 }'; docker info --format '{{.NCPU}} {{.MemTotal}}'")
    expect(inside.exitCode, inside.stderr).toBe(0)
    expect(inside.stdout.trim().split('\n')).toEqual(['1', String(1024 - 256), `1 ${(1024 - 256) * MiB}`])
    const top = await shAt(NEST, 1, "free -m | awk '/^Mem:/ { print $2 }'")
    expect(top.stdout.trim()).toBe('1024')
  })

  it('kills a container at level 3 that takes more than the budget, and every level stays ready; ps counts the kill at level 3', async () => {
    const hog = await shAt(NEST, 3, `docker run --rm ${busybox} dd if=/dev/zero of=/dev/null bs=1536M count=1`)
    // 137: killed by SIGKILL, the OOM killer's signal.
    expect(hog.exitCode, hog.stderr).toBe(137)
    const levels = await budgets()
    expect(levels.map((level) => level.state)).toEqual(['running', 'running', 'running'])
    expect(levels.map((level) => level.budget?.oomKills)).toEqual([0, 0, 1])
  })

  it('holds busy loops at level 3 to its half a core', async () => {
    const spin = await shAt(
      NEST,
      3,
      `for n in 1 2; do docker run -d --name spin$n ${busybox} sh -c 'while :; do :; done' >/dev/null || exit 1; done; sleep 1
       a=$(cat /sys/fs/cgroup/cpuacct/cpuacct.usage); sleep 4; b=$(cat /sys/fs/cgroup/cpuacct/cpuacct.usage)
       docker rm -f spin1 spin2 >/dev/null
       echo $(( (b - a) / 40000000 ))`,
    )
    expect(spin.exitCode, spin.stderr).toBe(0)
    // Hundredths of a core over four seconds: two loops, on the one CPU level 3 runs on, held to half of it.
    const cores = Number(spin.stdout.trim()) / 100
    expect(cores).toBeGreaterThan(0.35)
    expect(cores).toBeLessThan(0.65)
  })

  it('keeps a fork bomb at level 3 within its tasks: level 1 and the host still answer, and it is stopped', async () => {
    // Bounded by the test: each of its processes starts two more and waits (a builtin read on a
    // fifo nobody writes), so they hold every task there is; its PID 1 is `sleep 15`, started
    // before them (exec: no new process), and when it ends the kernel ends every process of the container.
    const bomb = await shAt(NEST, 3, `docker run -d --name bomb ${busybox} sh -c 'mkfifo /wait; f() { f & f & read -t 60 line <>/wait; }; f & exec sleep 15'`)
    expect(bomb.exitCode, bomb.stderr).toBe(0)
    try {
      const budget = 512 - 2 * ENGINE_NEED.pids
      const full = await waitForLevels((levels) => levels[2]?.budget?.pidsUsed === budget, 15_000)
      expect(full[2]?.budget?.pidsUsed, 'level 3 filled its tasks').toBe(budget)
      const levelOne = await cli(['exec', '--name', NEST, '--level', '1', '--', 'true'], {timeout: 20_000})
      expect(levelOne.exitCode, levelOne.stderr).toBe(0)
      const host = await execa('docker', ['version', '--format', '{{.Server.Version}}'], {reject: false, timeout: 20_000})
      expect(host.exitCode, host.stderr).toBe(0)
    } finally {
      const calm = await waitForLevels((levels) => (levels[2]?.budget?.pidsUsed ?? Infinity) < 100, 30_000)
      expect(calm[2]?.budget?.pidsUsed, 'the bomb ended within 20 s of its start').toBeLessThan(100)
      await shAt(NEST, 3, 'docker rm -f bomb >/dev/null')
    }
    const calm = await budgets()
    expect(calm.map((level) => level.state)).toEqual(['running', 'running', 'running'])
    expect(calm[2]?.budget?.pidsUsed).toBeLessThan(100)
  })

  it('runs no lxcfs and bounds nothing in a nest without budgets', async () => {
    const up = await cli(['up', '--name', PLAIN, '--depth', '1'])
    expect(up.exitCode, up.stderr).toBe(0)
    const {levels} = await psLevels(PLAIN)
    expect(levels[0]?.budget).toBeUndefined()
    const mounts = await shAt(PLAIN, 1, 'grep -c lxcfs /proc/self/mounts || true')
    expect(mounts.stdout.trim()).toBe('0')
    expect((await cli(['down', '--name', PLAIN])).exitCode).toBe(0)
  })

  it('down leaves nothing of the nest', async () => {
    const down = await cli(['down', '--name', NEST])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})
