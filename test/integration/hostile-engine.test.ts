import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'
import {mkdtempSync, rmSync} from 'node:fs'
import type {Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {LABEL} from '../../src/nesting/contract.js'
import {engineProxy} from '../support/engine-proxy.js'
import {cli, integrationEngine, psLevels, ROOT, shAt, snapshot, upFresh} from '../support/integration.js'

/**
 * What a hostile user found on the engine and level side, each reproduced as it was found: a loop
 * data root that promised space it did not have, a subnet lock left by a killed CLI, a volume
 * adopted by name, a command left running after its timeout, a state folder that cannot be made.
 * Every nest here is named itest-hostile-* and is taken down.
 */
const engine = await integrationEngine()
const NESTS = ['itest-hostile-loop', 'itest-hostile-lock', 'itest-hostile-vol', 'itest-hostile-orphan', 'itest-hostile-exec', 'itest-hostile-state']
const SUBNET_LOCK = 'inception-subnet-lock'

const docker = async (args: string[]) => execa('docker', args, {reject: false})
const volumeExists = async (name: string) => (await docker(['volume', 'inspect', name])).exitCode === 0

afterAll(async () => {
  for (const nest of NESTS) await cli(['down', '--name', nest])
  for (const volume of ['itest-hostile-vol-l1', 'itest-hostile-orphan-l1']) await docker(['volume', 'rm', '-f', volume])
})

/**
 * A proxy in front of the engine's socket that ends the CLI (SIGKILL) the moment the engine has
 * made the subnet lock for it, before the CLI hears back: a CLI killed while it holds the lock.
 */
async function killAfterLock(socket: string, victim: () => number | undefined): Promise<Server> {
  return engineProxy(socket, () => {
    let lockAsked = false
    return {
      request(chunk) {
        if (chunk.toString('latin1').includes(`/containers/create?name=${SUBNET_LOCK}`)) lockAsked = true
        return true
      },
      answer(chunk) {
        if (!lockAsked || !(chunk.toString('latin1').split('\r\n')[0] ?? '').includes(' 201 ')) return true
        const pid = victim()
        if (pid) process.kill(pid, 'SIGKILL')
        return false
      },
    }
  })
}

describe.skipIf(!engine)('hostile use: engine and levels', () => {
  it('loop:SIZE reserves its space: filling level 1 from level 2 gets "no space" there, and level 2 keeps its data root', async () => {
    const NEST = 'itest-hostile-loop'
    const before = await upFresh(NEST, ['--depth', '2', '--data-root', 'loop:300M'])
    // Level 2's root file system lies on level 1's data root: fill it from there.
    const fill = await shAt(NEST, 2, 'dd if=/dev/zero of=/root/fill bs=1M count=700 2>&1; sync')
    expect(fill.stdout).toMatch(/No space left on device/)
    // Level 2's engine writes on its own data root (its loop file, inside level 1's): a
    // container's data there must be kept, not lost to a loop file that cannot grow.
    const write = await shAt(NEST, 2, 'docker run --rm busybox:latest sh -c "dd if=/dev/zero of=/big bs=1M count=150 && sync" 2>&1; sync; echo "exit $?"')
    expect(write.stdout).toMatch(/150\+0 records out/)
    const mount = await shAt(NEST, 2, 'grep " /var/lib/docker " /proc/mounts')
    expect(mount.stdout).toMatch(/ ext4 rw,/)
    expect((await shAt(NEST, 2, 'docker run --rm busybox:latest true')).exitCode).toBe(0)
    expect((await psLevels(NEST)).levels.map((l) => l.state)).toEqual(['running', 'running'])
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  }, 300_000)

  it('a level whose data root went read-only is failed in ps, not running', async () => {
    const NEST = 'itest-hostile-loop'
    const before = await upFresh(NEST, ['--depth', '2', '--data-root', 'loop:300M'])
    expect((await psLevels(NEST)).levels.map((l) => l.state)).toEqual(['running', 'running'])
    // What ext4 does when its device fails under it: abort the journal, go read-only.
    const abort = await shAt(NEST, 2, 'mount -o remount,abort /var/lib/docker && grep " /var/lib/docker " /proc/mounts')
    expect(abort.exitCode, abort.stderr).toBe(0)
    expect(abort.stdout).toMatch(/ ext4 (ro,|\S*emergency_ro)/)
    const {levels} = await psLevels(NEST)
    expect(levels.map((l) => l.state)).toEqual(['running', 'failed'])
    expect(levels[1]!.detail).toMatch(/data root .*read-only/)
    const text = await cli(['ps', '--name', NEST])
    expect(text.stdout).toMatch(/L2 .*failed.*read-only/)
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  }, 300_000)

  it('a subnet lock left by a killed CLI is taken over at once, and down clears it', async () => {
    const NEST = 'itest-hostile-lock'
    await cli(['down', '--name', NEST])
    const dir = mkdtempSync(join(tmpdir(), 'itest-hostile-'))
    const socket = join(dir, 'docker.sock')
    let child: ReturnType<typeof execa> | undefined
    const proxy = await killAfterLock(socket, () => child?.pid)
    try {
      const killLockHolder = async () => {
        child = execa('node', ['bin/run.js', 'up', '--name', NEST, '--depth', '1'], {
          cwd: ROOT,
          reject: false,
          env: {CI: 'true', DOCKER_HOST: `unix://${socket}`},
        })
        const ended = await child
        expect(ended.signal).toBe('SIGKILL')
        // The lock is there, and its holder is gone.
        expect((await docker(['inspect', SUBNET_LOCK])).exitCode).toBe(0)
      }
      const before = await snapshot()
      await killLockHolder()
      const up = await cli(['up', '--name', NEST, '--depth', '1'])
      expect(up.exitCode, up.stderr).toBe(0)
      expect(up.stderr).not.toMatch(/lock/)
      expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
      expect((await docker(['inspect', SUBNET_LOCK])).exitCode).not.toBe(0)

      // Left again: `down` removes a lock whose holder is gone (the killed `up` made no nest: "no nest").
      await killLockHolder()
      expect((await cli(['down', '--name', NEST])).exitCode).toBe(4)
      expect((await docker(['inspect', SUBNET_LOCK])).exitCode).not.toBe(0)
      expect(await snapshot()).toEqual(before)
    } finally {
      proxy.close()
      rmSync(dir, {recursive: true, force: true})
      await docker(['rm', '-f', SUBNET_LOCK])
    }
  }, 300_000)

  it('a volume named like level 1 that inception did not make is refused, and left as it was', async () => {
    const NEST = 'itest-hostile-vol'
    await cli(['down', '--name', NEST])
    await docker(['volume', 'rm', '-f', `${NEST}-l1`])
    expect((await docker(['volume', 'create', `${NEST}-l1`])).exitCode).toBe(0)
    const before = await snapshot()
    const up = await cli(['up', '--name', NEST, '--depth', '1'])
    expect(up.exitCode).toBe(6)
    expect(up.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^inception: a volume named "${NEST}-l1" .*not made by inception.*; .*`))])
    expect(await snapshot()).toEqual(before)
    expect(await volumeExists(`${NEST}-l1`)).toBe(true)
    await docker(['volume', 'rm', '-f', `${NEST}-l1`])
  }, 180_000)

  it('a nest whose level 1 was removed by hand: down --name removes its volume, and the next up starts afresh', async () => {
    const NEST = 'itest-hostile-orphan'
    const before = await upFresh(NEST, ['--depth', '2'])
    expect((await docker(['rm', '-f', `${NEST}-l1`])).exitCode).toBe(0)
    expect(await volumeExists(`${NEST}-l1`)).toBe(true)
    // The next up removes what is left (labelled by inception, no container), with a note.
    const up = await cli(['up', '--name', NEST, '--depth', '2'])
    expect(up.exitCode, up.stderr).toBe(0)
    expect(up.stdout).toMatch(new RegExp(`removed the volume ${NEST}-l1 left by an earlier nest "${NEST}"`))
    expect((await psLevels(NEST)).levels.map((l) => l.state)).toEqual(['running', 'running'])
    // Again removed by hand: down --name finds the volume on its own.
    expect((await docker(['rm', '-f', `${NEST}-l1`])).exitCode).toBe(0)
    const down = await cli(['down', '--name', NEST])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await volumeExists(`${NEST}-l1`)).toBe(false)
    expect(await snapshot()).toEqual(before)
    const labelled = await docker(['volume', 'ls', '-q', '--filter', `label=${LABEL.nest}=${NEST}`])
    expect(labelled.stdout.trim()).toBe('')
  }, 300_000)

  it('exec --timeout and Ctrl-C end the command at its level, with what it started', async () => {
    const NEST = 'itest-hostile-exec'
    const before = await upFresh(NEST, ['--depth', '3'])
    // Every process's command line, as /proc has it at that level (the level image has no ps).
    const running = async (level: number, command: string) => {
      const list = await shAt(NEST, level, 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <"$f"; echo; done 2>/dev/null')
      expect(list.stdout).toMatch(/^sh -c /m) // the listing itself: it reads something
      return list.stdout
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line === command)
        .join('\n')
    }
    const timedOut = await cli(['exec', '--name', NEST, '--level', '3', '--timeout', '2', '--', 'sleep', '47'])
    expect(timedOut.exitCode).toBe(5)
    expect(timedOut.stderr).toMatch(/did not finish within 2s/)
    expect(await running(3, 'sleep 47')).toBe('')
    // At level 1 (no shortcut) the same.
    const atOne = await cli(['exec', '--name', NEST, '--level', '1', '--timeout', '2', '--', 'sleep', '48'])
    expect(atOne.exitCode).toBe(5)
    expect(await running(1, 'sleep 48')).toBe('')
    // A command that forks: its children go too.
    const forks = await cli(['exec', '--name', NEST, '--level', '2', '--timeout', '2', '--', 'sh', '-c', 'sleep 49 & sleep 50; wait'])
    expect(forks.exitCode).toBe(5)
    expect(await running(2, 'sleep 49')).toBe('')
    expect(await running(2, 'sleep 50')).toBe('')
    // Still there while it runs (the check above reads real processes).
    const slow = execa('node', ['bin/run.js', 'exec', '--name', NEST, '--level', '3', '--', 'sleep', '51'], {cwd: ROOT, reject: false, env: {CI: 'true'}})
    let seen = ''
    for (let i = 0; i < 20 && !seen; i++) seen = await running(3, 'sleep 51')
    expect(seen).toBe('sleep 51')
    slow.kill('SIGINT')
    await slow
    // Ctrl-C ends it at its level too.
    let left = await running(3, 'sleep 51')
    for (let i = 0; i < 20 && left; i++) left = await running(3, 'sleep 51')
    expect(left).toBe('')
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  }, 300_000)

  it('a state folder that cannot be made: up --expose-daemons says so in one line and creates nothing', async () => {
    const NEST = 'itest-hostile-state'
    await cli(['down', '--name', NEST])
    const before = await snapshot()
    const up = await cli(['up', '--name', NEST, '--depth', '1', '--expose-daemons'], {
      env: {CI: 'true', XDG_STATE_HOME: '/proc/itest-hostile-state'},
      timeout: 60_000,
    })
    expect(up.exitCode).toBe(2)
    expect(up.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^inception: cannot make the state folder \/proc\/itest-hostile-state\/inception\/\S+ \(ENOENT\); set XDG_STATE_HOME/),
    ])
    expect(await snapshot()).toEqual(before)
  }, 120_000)
})
