import {existsSync, readFileSync, statSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {CAP_DROP_MARKER, CAPABILITY_NAMES} from '../../src/nesting/contract.js'
import {planNest} from '../../src/nesting/plan.js'
import {parsePortMapping} from '../../src/nesting/ports.js'
import type {PrivilegeDecision} from '../../src/nesting/privilege.js'
import {dockerRunArguments, planFiles, planText, renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import type {Suite} from '../../src/nesting/suites.js'
import {initSandboxes, statusWithBoundingSet, type InitSandbox} from '../support/init-shell.js'

/**
 * How the init starts the next level, run by `sh`: the plan's file for it, rendered by the CLI
 * (render.ts), run as it is (docker is a fake), but for the capabilities to drop that dockerd
 * 20.10 needs, read from a fake bounding set (INCEPTION_PROC); and the image seed.
 */
const sandbox = initSandboxes()

/** A printing step's output, one argument per line. */
async function lines(box: InitSandbox, script: string, env: Record<string, string> = {}): Promise<string[]> {
  const result = await box.run(script, env)
  expect(result.exitCode, result.stderr).toBe(0)
  return result.stdout === '' ? [] : result.stdout.split('\n')
}

const ALL_CAPS = (1n << 41n) - 1n // cap_last_cap 40
const bit = (name: (typeof CAPABILITY_NAMES)[number]) => 1n << BigInt(CAPABILITY_NAMES.indexOf(name))

/** A fake /proc with this bounding set and cap_last_cap 40. */
function fakeProc(box: InitSandbox, bounding: bigint): Record<string, string> {
  box.write('proc/self/status', statusWithBoundingSet(bounding))
  box.write('proc/sys/kernel/cap_last_cap', '40\n')
  return {INCEPTION_PROC: box.path('proc')}
}

const capsDecision: PrivilegeDecision = {mode: 'caps', capDrop: ['SYS_RESOURCE'], reason: 'test'}

describe("the capabilities a caps level's parent drops (dockerd 20.10)", () => {
  it('drops what the bounding set lacks, among the names 20.10 knows; nothing from dockerd 23 on', async () => {
    const box = sandbox()
    // SYS_MODULE and SYS_TIME withheld; BPF too, which 20.10 cannot name, so it is not dropped.
    const env = fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE') & ~bit('SYS_TIME') & ~bit('BPF'))
    expect(await lines(box, 'DOCKERD_MAJOR=20\ncapabilities_to_drop', env)).toEqual(['SYS_MODULE', 'SYS_TIME'])
    expect(await lines(box, 'DOCKERD_MAJOR=23\ncapabilities_to_drop', env)).toEqual([])
  })
})

describe('launching the next level', () => {
  // docker run's arguments one per line; no container to wait for.
  const docker = 'case "$1" in run) shift; printf "%s\\n" "$@" >"$SANDBOX/docker-run.args"; echo c0ffee ;; wait) exit 1 ;; esac'

  /** The plan of a 3-level nest (caps at level 1, as on a host that withholds a capability), in the sandbox's plan folder. */
  function withPlan(box: InitSandbox, suite: Suite): string[] {
    const plan = planNest(parseUpRequest({name: 'dream', depth: 3, suite, ports: [parsePortMapping('18080:8080'), parsePortMapping('15432:5432@1')]}), [])
    for (const [file, {content}] of Object.entries(planFiles(plan, capsDecision))) box.write(`plan/${file}`, content)
    return dockerRunArguments(renderLevel(plan, capsDecision, 2))
  }

  it("runs the plan's file for the next level as it is, and gives the next level this engine's images as hard links", async () => {
    const box = sandbox({docker})
    const planned = withPlan(box, 'trixie')
    box.write('data/image/overlay2/repositories.json', '{}')
    box.write('data/overlay2/abc/diff/bin/sh', 'shell')
    const env = {...fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE')), INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '3'}
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nDOCKERD_MAJOR=26\nlaunch_next_level\nwait', env)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toContain('starting level 2')
    const args = readFileSync(box.path('docker-run.args'), 'utf8').trimEnd().split('\n')
    expect(args).toEqual(planned)
    expect(args).toContain('--privileged')
    expect(args[args.indexOf('8080:8080') - 1]).toBe('--publish')
    expect(args).not.toContain('5432:5432')
    // Its data root: a directory in this level's, holding this engine's store as hard links.
    expect(statSync(box.path('data/inception-level-2/overlay2/abc/diff/bin/sh')).ino).toBe(statSync(box.path('data/overlay2/abc/diff/bin/sh')).ino)
    expect(result.calls.filter((call) => call.startsWith('docker ') && !call.startsWith('docker run ') && !call.startsWith('docker wait '))).toEqual([])
  })

  it('level 1 writes the plan it is given in its environment, file by file as rendered, and runs level 2 from it', async () => {
    const box = sandbox({docker})
    const plan = planNest(parseUpRequest({name: 'dream', depth: 3, ports: [parsePortMapping('18080:8080')]}), [])
    const env = {...fakeProc(box, ALL_CAPS), INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '3', INCEPTION_PLAN: planText(plan, capsDecision)}
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nDOCKERD_MAJOR=26\nlaunch_next_level\nwait', env)
    expect(result.exitCode, result.stderr).toBe(0)
    for (const [file, {content}] of Object.entries(planFiles(plan, capsDecision))) expect(readFileSync(box.path(`plan/${file}`), 'utf8')).toBe(content)
    expect(readFileSync(box.path('docker-run.args'), 'utf8').trimEnd().split('\n')).toEqual(dockerRunArguments(renderLevel(plan, capsDecision, 2)))
  })

  it('dockerd 20.10: the parent puts a --cap-drop where the plan marks it, for each capability its bounding set lacks', async () => {
    const box = sandbox({docker})
    const planned = withPlan(box, 'bookworm')
    expect(planned).toContain(CAP_DROP_MARKER)
    const env = {...fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE') & ~bit('SYS_TIME')), INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '3'}
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nDOCKERD_MAJOR=20\nlaunch_next_level\nwait', env)
    expect(result.exitCode, result.stderr).toBe(0)
    const args = readFileSync(box.path('docker-run.args'), 'utf8').trimEnd().split('\n')
    const at = planned.indexOf(CAP_DROP_MARKER)
    expect(args).toEqual([...planned.slice(0, at), '--cap-drop', 'SYS_MODULE', '--cap-drop', 'SYS_TIME', ...planned.slice(at + 1)])
    // The caps mode's device rule stays one argument.
    expect(args).toContain('a *:* rwm')
  })

  it('a plan without the next level fails the level, on the board, before anything is created', async () => {
    const box = sandbox({docker})
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nlaunch_next_level', {INCEPTION_DEPTH: '2'})
    expect(result.exitCode).toBe(1)
    expect(readFileSync(box.path('board/level-1'), 'utf8')).toMatch(/^failed the plan has no level 2/)
    expect(result.calls).toEqual([])
  })
})

describe('the image seed', () => {
  const TAGS = '{"Repositories":{"busybox":{"busybox:latest":"sha256:b"},"inception-level":{"inception-level:dev":"sha256:l"}}}'

  /** A small overlay2 image store in the sandbox folder `dir`: the tag file, two layers. */
  function writeStore(box: InitSandbox, dir: string): void {
    box.write(`${dir}/image/overlay2/repositories.json`, TAGS)
    box.write(`${dir}/overlay2/abc/link`, 'L1')
    box.write(`${dir}/overlay2/abc/diff/bin/busybox`, 'applets')
    box.write(`${dir}/overlay2/def/link`, 'L2')
    box.write(`${dir}/overlay2/def/diff/etc/hostname`, 'level')
  }

  /** Seed tars for overlay2 in SANDBOX/seed, packed by the init from a store written in SANDBOX/store. */
  async function withSeed(box: InitSandbox): Promise<void> {
    writeStore(box, 'store')
    const made = await box.run('mkdir -p "$SANDBOX/seed" && cd "$SANDBOX/store" && SEED_DIR="$SANDBOX/seed" && STORAGE_DRIVER=overlay2 && pack_image_seed')
    expect(made.exitCode, made.stderr).toBe(0)
  }

  const seeded = 'mkdir -p "$DATA_DIR"; SEED_DIR="$SANDBOX/seed"; STORAGE_DRIVER=overlay2; start_image_seed; finish_image_seed; ensure_images'
  // The fake engine has no image: an import is the only way to one.
  const emptyEngine = {docker: 'case "$1" in image) exit 1 ;; esac'}

  it('unpacks into an empty data root before the engine starts; the images are then found in the store, without asking the engine', async () => {
    const box = sandbox(emptyEngine)
    await withSeed(box)
    const result = await box.run(seeded, {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(box.path('data/overlay2/abc/diff/bin/busybox'), 'utf8')).toBe('applets')
    expect(readFileSync(box.path('data/image/overlay2/repositories.json'), 'utf8')).toBe(TAGS)
    expect(result.calls.filter((call) => call.startsWith('docker'))).toEqual([])
  })

  it("names in the layers' tar every folder above a layer's contents first: unpacked beside the store's tar, it makes no folder that tar makes", async () => {
    // GNU tar fails ("Unexpected inconsistency when making directory") when a parent folder it
    // makes for a member appears in the meantime; one it unpacks as a member may exist already.
    const box = sandbox()
    await withSeed(box)
    const listed = await box.run('tar -tf "$SANDBOX/seed/overlay2.layers.tar"')
    expect(listed.exitCode, listed.stderr).toBe(0)
    const members = listed.stdout.split('\n')
    expect(members).toEqual(expect.arrayContaining(['overlay2/abc/diff/bin/busybox', 'overlay2/def/diff/etc/hostname']))
    members.forEach((member, index) => {
      const parts = member.replace(/\/$/, '').split('/')
      const parents = parts.slice(0, -1).map((_, i) => `${parts.slice(0, i + 1).join('/')}/`)
      for (const parent of parents) expect(members.slice(0, index), `${parent} before ${member}`).toContain(parent)
    })
    // The store's tar has no layer contents: the two share folders, never files.
    const store = await box.run('tar -tf "$SANDBOX/seed/overlay2.tar"')
    const files = (list: string) => list.split('\n').filter((member) => !member.endsWith('/'))
    expect(files(store.stdout).filter((file) => files(listed.stdout).includes(file))).toEqual([])
    expect(files(store.stdout)).toContain('overlay2/def/link')
  })

  it("waits for the layers' contents before the level goes on (ensure_images)", async () => {
    // The layers' unpacking (run through nice) takes a moment longer and leaves a mark when done.
    const slowLayers = 'shift 2; sleep 0.3; "$@"; status=$?; : >"$SANDBOX/layers-unpacked"; exit $status'
    const box = sandbox({...emptyEngine, nice: slowLayers})
    await withSeed(box)
    const result = await box.run(`${seeded}; [ -e "$SANDBOX/layers-unpacked" ] && echo unpacked`, {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('unpacked')
    expect(result.calls.filter((call) => call.startsWith('docker'))).toEqual([])
  })

  it('leaves a data root that has a store already (seeded by the parent) as it is', async () => {
    const box = sandbox(emptyEngine)
    await withSeed(box)
    box.write('data/image/overlay2/repositories.json', TAGS)
    const result = await box.run(seeded, {INCEPTION_LEVEL: '2', INCEPTION_DEPTH: '3'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(existsSync(box.path('data/overlay2'))).toBe(false)
    expect(result.calls.filter((call) => call.startsWith('docker'))).toEqual([])
  })

  it('without a seed for the storage driver in use, imports both images once the engine answers', async () => {
    const box = sandbox(emptyEngine)
    await withSeed(box)
    const result = await box.run(seeded.replace('STORAGE_DRIVER=overlay2', 'STORAGE_DRIVER=vfs'), {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '2'})
    expect(result.exitCode, result.stderr).toBe(0)
    const imports = result.calls.filter((call) => call.startsWith('docker import')).map((call) => call.split(' ').pop())
    expect(imports.sort()).toEqual(['busybox:latest', 'inception-level:dev'])
  })

  it('a seed whose layers cannot be unpacked makes the engine forget the images, which are then imported', async () => {
    // Its `image rm` forgets them as an engine does: its tag file no longer names them.
    const box = sandbox({docker: 'case "$1" in image) [ "$2" = rm ] && rm -f "$SANDBOX/data/image/overlay2/repositories.json" && exit 0; exit 1 ;; esac'})
    await withSeed(box)
    box.write('seed/overlay2.layers.tar', 'not a tar')
    const result = await box.run(seeded, {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toContain("could not unpack the image seed's layers")
    expect(result.calls).toContain('docker image rm --force inception-level:dev busybox:latest')
    expect(result.calls.filter((call) => call.startsWith('docker import'))).toHaveLength(2)
  })

  it("write_image_seed stops the engine and writes the store in two parts: the layers' contents apart", async () => {
    const box = sandbox()
    writeStore(box, 'data')
    // The fake engine takes a moment to stop and leaves a mark in the store as it goes: the seed
    // must be written after that, from a store at rest. It is a child of the shell that writes
    // the seed, as dockerd is the init's.
    const result = await box.run(
      [
        '(',
        '  SEED_DIR="$SANDBOX/seed"; STORAGE_DRIVER=overlay2',
        '  start_job dockerd sh -c \'trap "sleep 0.3; : >\\"$1/image/stopped\\"; exit 0" TERM; : >"$SANDBOX/engine-up"; while :; do sleep 0.05; done\' \\',
        '    engine "$DATA_DIR"',
        // Once the engine is up (its trap set): a TERM before would end it without its mark.
        '  until [ -e "$SANDBOX/engine-up" ]; do sleep 0.01; done; write_image_seed',
        '); echo "status $?"',
        'cd "$SANDBOX/seed" && tar -tf overlay2.tar && echo --- && tar -tf overlay2.layers.tar',
      ].join('\n'),
    )
    expect(result.exitCode, result.stderr).toBe(0)
    const [meta, layers] = result.stdout.split('---\n')
    expect(meta).toContain('status 0')
    expect(meta).toContain('image/stopped')
    expect(meta).toContain('image/overlay2/repositories.json')
    expect(meta).toContain('overlay2/abc/link')
    expect(meta).not.toContain('bin/busybox')
    expect(layers).toContain('overlay2/abc/diff/bin/busybox')
  })

  it("a level seeded by its parent prepares the next level's data root before its engine starts; level 1, once its images are in", async () => {
    const box = sandbox({docker: 'case "$1" in wait) exit 1 ;; esac'})
    box.write('data/image/overlay2/repositories.json', TAGS)
    box.write('data/overlay2/abc/link', 'L1')
    const early = [
      'STORAGE_DRIVER=overlay2; start_preparing_next_level; job_started next_data_root && echo started',
      'await_next_data_root; echo prepared; launch_next_level',
    ].join('\n')
    // Once its data root is ready, the next level is started as planned; docker is a fake.
    box.write('plan/level-3.args', 'inception-level:dev\n')
    box.write('plan/level-2.args', 'inception-level:dev\n')
    const second = await box.run(`mkdir -p "$STATE_DIR"\n${early}`, {INCEPTION_LEVEL: '2', INCEPTION_DEPTH: '3'})
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.stdout).toBe('started\nprepared')
    expect(readFileSync(box.path('data/inception-level-3/image/overlay2/repositories.json'), 'utf8')).toBe(TAGS)
    // Level 1 with its seed's layers still coming: nothing early, all of it at launch.
    const first = await box.run(`mkdir -p "$STATE_DIR"\nstart_job seed_layers true\n${early}`, {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '3'})
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stdout).toBe('prepared')
    expect(readFileSync(box.path('data/inception-level-2/image/overlay2/repositories.json'), 'utf8')).toBe(TAGS)
    // The innermost level prepares nothing.
    const innermost = {INCEPTION_LEVEL: '3', INCEPTION_DEPTH: '3'}
    const last = await box.run('STORAGE_DRIVER=overlay2; start_preparing_next_level; job_started next_data_root || echo none', innermost)
    expect(last.stdout).toBe('none')
  })
})
