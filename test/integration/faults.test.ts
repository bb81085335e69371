import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {LABEL} from '../../src/nesting/contract.js'
import {cli, expectNestIn, integrationEngine, psLevels, ROOT, snapshot, shAt, upFresh} from '../support/integration.js'

const engine = await integrationEngine()

/** Starts `up` and resolves once its progress says `line`, with the child still running. */
async function upUntil(args: string[], line: string) {
  const child = execa('node', ['bin/run.js', 'up', ...args], {cwd: ROOT, reject: false, all: true, env: {CI: 'true'}})
  await new Promise<void>((resolve, reject) => {
    let seen = ''
    child.all.on('data', (chunk: Buffer) => {
      seen += chunk.toString()
      if (seen.includes(line)) resolve()
    })
    void child.then(() => reject(new Error(`up ended before "${line}":\n${seen}`)))
  })
  // Wrapped: the child is thenable, and an async function would wait for it to end.
  return {child}
}

describe.skipIf(!engine)('faults', () => {
  it('SIGKILL of the CLI during up leaves a nest that down removes completely', async () => {
    const NEST = 'itest-kill'
    await cli(['down', '--name', NEST])
    const before = await snapshot()
    const {child} = await upUntil(['--name', NEST, '--depth', '4'], 'Level 1: ready')
    child.kill('SIGKILL')
    await child
    // Nothing rolled it back: the levels go on starting, and they are found by their labels.
    expect((await cli(['ps', '--name', NEST])).exitCode).toBe(0)
    await expectNestIn(await snapshot(), NEST)
    const down = await cli(['down', '--name', NEST])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await snapshot()).toEqual(before)
  })

  it('a killed dockerd at level 2 shows in ps (2 down, 3 and 4 unreachable), and down still removes all', async () => {
    const NEST = 'itest-dockerd'
    const before = await upFresh(NEST, ['--depth', '4'])
    const kill = await shAt(NEST, 2, 'kill -9 "$(cat /run/inception/dockerd.pid)"')
    expect(kill.exitCode).toBe(0)
    const killedAt = Date.now()
    let view = await psLevels(NEST)
    // Only that ps sees it: how fast is a figure, not an assertion. The bound only keeps a
    // level that never shows as down from holding the test to its own timeout.
    while (view.levels[1]!.state === 'running' && Date.now() - killedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 250))
      view = await psLevels(NEST)
    }
    expect(view.stderr).toBe('')
    expect(view.levels.map((l) => l.state)).toEqual(['running', expect.stringMatching(/^(exited|failed)$/), 'unreachable', 'unreachable'])
    const text = await cli(['ps', '--name', NEST])
    expect(text.stdout).toMatch(/L2 .* (exited|failed) .*dockerd not ready/)
    expect(text.stdout).not.toMatch(/at .*\.js:\d+/) // a view, not a stack trace
    const exec = await cli(['exec', '--name', NEST, '--level', '3', '--', 'true'])
    expect(exec.exitCode).not.toBe(0)
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })

  it('a restarted host engine: ps tells the truth and down cleans up', async () => {
    const NEST = 'itest-restart'
    await cli(['down', '--name', NEST])
    {
      const up = await cli(['up', '--name', NEST, '--depth', '3'])
      expect(up.exitCode, up.stderr).toBe(0)
    }
    await expectNestIn(await snapshot(), NEST)
    // A real restart: dockerd stops (stopping its containers) and starts again.
    // The machine's dockerd, by its pid file (the levels' dockerds run on this machine too): a missing file fails the test here.
    await execa('sh', ['-c', 'set -e; pid=$(cat /var/run/docker.pid); kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done'])
    await execa('sh', [`${ROOT}scripts/ensure-engine.sh`])
    const before = await snapshot()
    // Stopped, not killed: level 1's init had SIGTERM, and exited, ending the levels below.
    const log = await execa('docker', ['logs', `${NEST}-l1`], {reject: false})
    expect(`${log.stdout}${log.stderr}`).toContain('inception-init[level 1]: level 1 collapsed')
    const {levels} = await psLevels(NEST)
    expect(levels.map((l) => l.state)).toEqual([expect.stringMatching(/^exited$/), 'unreachable', 'unreachable'])
    const exec = await cli(['exec', '--name', NEST, '--', 'true'])
    expect(exec.exitCode).toBe(5)
    expect(exec.stderr).toMatch(/level 1 failed: level 1 is exited/)
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    const after = await snapshot()
    expect(after.containers).toEqual(before.containers.filter((c) => !c.includes(`${NEST}-l1`)))
    expect(after.volumes).toEqual(before.volumes.filter((v) => v !== `${NEST}-l1`))
    expect(after.cgroups).toEqual([])
  }, 180_000)

  it('a full data root (a small loop file) reports the disk-full error, and down still works', async () => {
    const NEST = 'itest-full'
    const before = await upFresh(NEST, ['--depth', '2', '--data-root', 'loop:256M'])
    const fill = await cli(['exec', '--name', NEST, '--level', '2', '--', 'dd', 'if=/dev/zero', 'of=/var/lib/docker/fill', 'bs=1M', 'count=400'])
    expect(fill.exitCode).not.toBe(0)
    expect(fill.stderr).toMatch(/No space left on device/)
    // A plain "no space left", not I/O errors: the level's file system is still read-write
    // (each outer level has room for the one below it), and the level still answers.
    const mount = await shAt(NEST, 2, 'grep " /var/lib/docker " /proc/mounts')
    expect(mount.stdout).toMatch(/ ext4 rw,/)
    expect(mount.stdout).not.toMatch(/emergency_ro|\bro,/)
    const more = await cli(['exec', '--name', NEST, '--level', '2', '--', 'dd', 'if=/dev/zero', 'of=/var/lib/docker/more', 'bs=1M', 'count=50'])
    expect(more.stderr).toMatch(/No space left on device/)
    expect((await cli(['exec', '--name', NEST, '--level', '2', '--', 'docker', 'version', '--format', '{{.Server.Version}}'])).exitCode).toBe(0)
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })

  it('down --all finds and removes the volume of a nest whose container never came', async () => {
    const before = await snapshot()
    {
      const up = await cli(['up', '--name', 'itest-all', '--depth', '1'])
      expect(up.exitCode, up.stderr).toBe(0)
    }
    await expectNestIn(await snapshot(), 'itest-all')
    // What a CLI killed between creating level 1's volume and its container leaves: a labelled volume alone.
    await execa('docker', ['volume', 'create', '--label', `${LABEL.nest}=itest-orphan`, 'itest-orphan-l1'])
    const down = await cli(['down', '--all'])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(down.stdout).toMatch(/removed nest "itest-all" \(1 container, 1 volume\)/)
    expect(down.stdout).toMatch(/removed nest "itest-orphan" \(0 container, 1 volume\)/)
    expect(await snapshot()).toEqual(before)
  })
})
