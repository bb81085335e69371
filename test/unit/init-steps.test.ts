import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, symlinkSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox, type SandboxFakes} from '../support/init-shell.js'
import {ROOT} from '../support/integration.js'

/**
 * The init's step runner and background jobs, run by `sh`. `main` itself runs here, on a fake
 * level (a fake /proc, cgroup root, data directory and board in the sandbox, every command that
 * could change the system a fake), up to the step that fails: whatever fails, the level's line on
 * the board names the step and says why, and the init ends with a failure.
 */
const newSandbox = initSandboxes()

/** A sandbox in which main can run: a fake /proc (no cgroup mounts, no legacy tables), no uplink. */
function level(fakes: SandboxFakes = {}): {box: InitSandbox; env: Record<string, string>} {
  const box = newSandbox({busybox: 'exit 0', ...fakes})
  box.write('proc/self/mounts', '')
  box.write('proc/net/ip_tables_names', '')
  mkdirSync(box.path('cgroup'))
  mkdirSync(box.path('data'))
  // The descriptor step has run (its re-exec is tested apart); INCEPTION_PROC makes the rest fake.
  return {box, env: {INCEPTION_DESCRIPTORS_CLOSED: '1', INCEPTION_PROC: box.path('proc'), INCEPTION_SYS_NET: box.path('net')}}
}

const board = (box: InitSandbox, level = 1) => readFileSync(box.path(`board/level-${level}`), 'utf8')

describe("main's failures, each on the board under its step's title", () => {
  it('a tmpfs data root that cannot be mounted', async () => {
    const {box, env} = level({mount: '[ "$2" != tmpfs ]'})
    const result = await box.run('main', {...env, INCEPTION_DATA_ROOT: 'tmpfs'})
    expect(result.exitCode).toBe(1)
    expect(board(box)).toBe(`failed mount the data root: cannot mount a tmpfs on ${box.path('data')}\n`)
    expect(result.stderr).toContain(`inception-init[level 1]: error: mount the data root: cannot mount a tmpfs on ${box.path('data')}`)
  })

  it('a loop data root whose file system cannot be made: the file is not left for the next start', async () => {
    const {box, env} = level({'mkfs.ext4': 'echo "mkfs.ext4: Input/output error" >&2; exit 1'})
    const disk = join(box.path('data'), 'inception-disk.ext4')
    const result = await box.run('main', {...env, INCEPTION_DATA_ROOT: 'loop:1048576'})
    expect(result.exitCode).toBe(1)
    expect(board(box)).toBe(`failed mount the data root: cannot make an ext4 file system in ${disk}\n`)
    expect(result.calls.filter((call) => call.startsWith('mount'))).toEqual([])
    expect(existsSync(disk)).toBe(false)
  })

  it('an iptables backend that cannot be chosen, with every step before it done', async () => {
    const {box, env} = level({'iptables-nft': 'exit 0', 'update-alternatives': 'echo "update-alternatives: error: no alternatives for iptables" >&2; exit 2'})
    const result = await box.run('main', env)
    expect(result.exitCode).toBe(1)
    expect(board(box)).toBe('failed choose the iptables backend: cannot switch iptables to the nft backend (update-alternatives failed; see the log above)\n')
    // The storage driver's probe ran before: the steps ran in order up to this one.
    expect(result.calls.some((call) => call.startsWith('mount -t overlay'))).toBe(true)
  })

  it('a command a step does not check (set -e ends the init): the board names the step and the status', async () => {
    // dockerd --version answers with a failure: read_dockerd_version does not check it.
    const {box, env} = level({dockerd: 'exit 4'})
    const result = await box.run('main', env)
    expect(result.exitCode).toBe(4)
    expect(board(box)).toBe("failed read dockerd's version: a command failed with status 4 (see the log above)\n")
    expect(result.stderr).toContain("error: read dockerd's version: a command failed with status 4")
  })

  it('a re-exec that cannot start (no perl): the descriptor step, though it comes before "starting"', async () => {
    // A PATH of the shell and what the board needs, without perl.
    const {box} = level()
    const tools = box.path('tools')
    mkdirSync(tools)
    for (const tool of ['sh', 'mkdir', 'mv']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'}).trim(), join(tools, tool))
    const result = await box.run('main', {PATH: tools})
    expect(result.exitCode).toBe(127)
    expect(board(box)).toBe('failed close the inherited descriptors: a command failed with status 127 (see the log above)\n')
  })

  it("a background job that fails: the next level's data root, awaited before dockerd starts", async () => {
    // Level 2 of 3, seeded by its parent: the next level's data root is made beside the steps.
    const {box, env} = level({'iptables-nft': 'exit 0'})
    box.write('data/image/overlay2/repositories.json', '{"Repositories":{"inception-level":{"inception-level:dev":"sha256:l"}}}')
    box.write('data/inception-level-3', 'a file where its folder goes')
    const result = await box.run('main', {...env, INCEPTION_LEVEL: '2', INCEPTION_DEPTH: '3'})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toMatch(/inception-init\[level 2\]: job next_data_root ended with status 1\n/)
    expect(board(box, 2)).toBe(`failed prepare level 3's data root: cannot make level 3's data root ${box.path('data/inception-level-3')}\n`)
    // Neither dockerd nor the next level was started.
    expect(result.calls.filter((call) => (call.startsWith('dockerd') && call !== 'dockerd --version') || call.startsWith('docker '))).toEqual([])
  })
})

describe('a background job that fails without failing the level', () => {
  it("the image seed's store that cannot be unpacked: reported under its job's name, and the images imported", async () => {
    const box = newSandbox({docker: 'case "$1" in image) exit 1 ;; esac'})
    box.write('seed/overlay2.tar', 'not a tar')
    box.write('seed/overlay2.layers.tar', 'not a tar either')
    mkdirSync(box.path('data'))
    const script = 'SEED_DIR="$SANDBOX/seed"; STORAGE_DRIVER=overlay2; start_image_seed; finish_image_seed; ensure_images'
    const result = await box.run(script, {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toMatch(/inception-init\[level 1\]: job seed_store ended with status 2\n/)
    expect(result.stderr).toContain('warning: could not unpack the image seed; importing the images instead')
    expect(result.calls.filter((call) => call.startsWith('docker import'))).toHaveLength(2)
  })
})

describe('the job API', () => {
  it('await_job returns how a job ended, again when asked again; 0 for one never started or discarded', async () => {
    const box = newSandbox()
    const script = [
      'start_job quick sh -c "exit 3"',
      'job_started quick && echo started',
      'await_job quick || echo "first $?"',
      'await_job quick || echo "again $?"',
      'await_job never && echo "never 0"',
      'start_job dropped false; discard_job dropped; await_job dropped && echo "discarded 0"',
    ].join('\n')
    const result = await box.run(script)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('started\nfirst 3\nagain 3\nnever 0\ndiscarded 0')
    expect(result.stderr).toContain('job quick ended with status 3')
  })

  it('a daemon job runs until stopped; a signal this shell traps does not end the wait for a job', async () => {
    const box = newSandbox()
    const script = [
      'start_job daemon tail -f /dev/null',
      'job_running daemon && echo running',
      'stop_job daemon',
      'job_running daemon || echo stopped',
      // USR1 arrives while the job runs: the wait goes on until the job ends, with its own status.
      'trap ": USR1 handled" USR1',
      'start_job slow sh -c "sleep 0.4; exit 5"',
      '(sleep 0.1; kill -USR1 $$) &',
      'await_job slow || echo "slow $?"',
    ].join('\n')
    const result = await box.run(script)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('running\nstopped\nslow 5')
  })
})

describe("main's shape", () => {
  const main = (() => {
    const text = readFileSync(join(ROOT, 'image/init.sh'), 'utf8')
    const start = text.indexOf('\nmain() {\n')
    return text.slice(start, text.indexOf('\n}\n', start)).split('\n').slice(2)
  })()

  it('runs every step as a command of its own: never where set -e is off (if, while, !, &&, ||)', () => {
    const steps = main.filter((line) => /\bstep\b/.test(line.replace(/#.*$/, '')))
    expect(steps.length).toBeGreaterThan(15)
    for (const line of steps) expect(line, line).toMatch(/^\s*step "[^"]+" \S/)
    const code = main.map((line) => line.replace(/#.*$/, ''))
    for (const line of code) expect(line, line).not.toMatch(/&&|\|\||^\s*!|\bwhile\b|\buntil\b/)
  })
})
