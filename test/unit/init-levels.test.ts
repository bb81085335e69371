import {existsSync, readFileSync, statSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {CAPABILITY_NAMES, CAPS_SECURITY, DAEMON_INNER_PORT_BASE} from '../../src/nesting/contract.js'
import {initSandboxes, statusWithBoundingSet, type InitSandbox} from '../support/init-shell.js'

/**
 * What the init decides for the next level, run by `sh`: the ports it publishes (the port chain),
 * its privilege arguments (the capabilities to drop read from a fake bounding set,
 * INCEPTION_PROC), and the `docker run` that launch_next_level makes of them (docker is a fake).
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

const securityArguments = CAPS_SECURITY.flatMap((option) => (option === 'devices=all' ? ['--device-cgroup-rule', 'a *:* rwm'] : ['--security-opt', option]))

describe('the port chain', () => {
  // A 4-level nest: -p 8080 to level 4, 5432 to level 2, and each level's engine port (--expose-daemons).
  const ports = ['8080@4', '5432@2', ...[1, 2, 3, 4].map((level) => `${DAEMON_INNER_PORT_BASE + level}@${level}`)].join(' ')
  const published = async (level: number) => {
    const args = await lines(sandbox(), 'publish_arguments', {INCEPTION_LEVEL: String(level), INCEPTION_DEPTH: '4', INCEPTION_PORTS: ports})
    expect(args.filter((_, i) => i % 2 === 0).every((flag) => flag === '--publish')).toBe(true)
    return args.filter((_, i) => i % 2 === 1)
  }

  it('each level publishes on the next one every port that goes at least that deep, as PORT:PORT', async () => {
    const engine = (level: number) => `${DAEMON_INNER_PORT_BASE + level}:${DAEMON_INNER_PORT_BASE + level}`
    expect(await published(1)).toEqual(['8080:8080', '5432:5432', engine(2), engine(3), engine(4)])
    expect(await published(2)).toEqual(['8080:8080', engine(3), engine(4)])
    expect(await published(3)).toEqual(['8080:8080', engine(4)])
  })

  it('no ports, no arguments', async () => {
    expect(await lines(sandbox(), 'publish_arguments', {INCEPTION_LEVEL: '1', INCEPTION_PORTS: ''})).toEqual([])
  })
})

describe("the next level's privilege", () => {
  it('privileged: --privileged and nothing else', async () => {
    expect(await lines(sandbox(), 'privilege_arguments privileged')).toEqual(['--privileged'])
  })

  it('caps: every capability, and the caps security options, the device rule as one argument', async () => {
    const box = sandbox()
    const env = fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE'))
    expect(await lines(box, 'DOCKERD_MAJOR=26\nprivilege_arguments caps', env)).toEqual(['--cap-add', 'ALL', ...securityArguments])
  })

  it('caps with dockerd 20.10: drops what the bounding set lacks, among the names 20.10 knows', async () => {
    const box = sandbox()
    // SYS_MODULE and SYS_TIME withheld; BPF too, which 20.10 cannot name, so it is not dropped.
    const env = fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE') & ~bit('SYS_TIME') & ~bit('BPF'))
    expect(await lines(box, 'DOCKERD_MAJOR=20\ncapabilities_to_drop', env)).toEqual(['SYS_MODULE', 'SYS_TIME'])
    expect(await lines(box, 'DOCKERD_MAJOR=23\ncapabilities_to_drop', env)).toEqual([])
    expect(await lines(box, 'DOCKERD_MAJOR=20\nprivilege_arguments caps', env)).toEqual([
      '--cap-add',
      'ALL',
      '--cap-drop',
      'SYS_MODULE',
      '--cap-drop',
      'SYS_TIME',
      ...securityArguments,
    ])
  })

  it('minimal: only the capabilities and security options this level got', async () => {
    const env = {INCEPTION_CAPS: 'CHOWN NET_ADMIN SYS_ADMIN', INCEPTION_SECURITY: 'apparmor=unconfined devices=all'}
    expect(await lines(sandbox(), 'privilege_arguments minimal', env)).toEqual([
      '--cap-drop',
      'ALL',
      '--cap-add',
      'CHOWN',
      '--cap-add',
      'NET_ADMIN',
      '--cap-add',
      'SYS_ADMIN',
      '--security-opt',
      'apparmor=unconfined',
      '--device-cgroup-rule',
      'a *:* rwm',
    ])
  })

  it('an unknown mode is refused', async () => {
    const result = await sandbox().run('privilege_arguments sudo')
    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toBe('')
  })

  it('auto: privileged with a full bounding set, caps when one capability is missing; a mode asked for stays', async () => {
    const full = sandbox()
    expect(await lines(full, 'effective_privilege', {...fakeProc(full, ALL_CAPS), INCEPTION_PRIVILEGE: 'auto'})).toEqual(['privileged'])
    const short = sandbox()
    expect(await lines(short, 'effective_privilege', {...fakeProc(short, ALL_CAPS & ~bit('CHECKPOINT_RESTORE')), INCEPTION_PRIVILEGE: 'auto'})).toEqual([
      'caps',
    ])
    expect(await lines(short, 'effective_privilege', {...fakeProc(short, ALL_CAPS), INCEPTION_PRIVILEGE: 'minimal'})).toEqual(['minimal'])
  })
})

describe('launching the next level', () => {
  // docker run's arguments one per line; no container to wait for; the volume in the sandbox.
  const docker =
    'case "$1" in run) shift; printf "%s\\n" "$@" >"$SANDBOX/docker-run.args" ;; wait) exit 1 ;; volume) [ "$2" != inspect ] || echo "$SANDBOX/volume" ;; esac'

  it("runs the level image with the decided privilege and ports as whole arguments, and the next level's environment", async () => {
    const box = sandbox({docker})
    const env = {
      ...fakeProc(box, ALL_CAPS & ~bit('SYS_MODULE')),
      INCEPTION_LEVEL: '1',
      INCEPTION_DEPTH: '3',
      INCEPTION_NEST: 'dream',
      INCEPTION_VERSION: '9.9.9',
      INCEPTION_PRIVILEGE: 'auto',
      INCEPTION_PRIVILEGE_USED: 'privileged',
      INCEPTION_PORTS: '8080@3 5432@1',
    }
    box.write('data/image/overlay2/repositories.json', '{}')
    box.write('data/overlay2/abc/diff/bin/sh', 'shell')
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nDOCKERD_MAJOR=20\nlaunch_next_level\nwait', env)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toContain('starting level 2 (caps)')
    const args = readFileSync(box.path('docker-run.args'), 'utf8').trimEnd().split('\n')
    expect(args.slice(0, 3)).toEqual(['--detach', '--name', 'dream-l2'])
    expect(args.at(-1)).toBe('inception-level:9.9.9')
    const tail = args.slice(args.indexOf('--cap-add'), -1)
    expect(tail).toEqual(['--cap-add', 'ALL', '--cap-drop', 'SYS_MODULE', ...securityArguments, '--publish', '8080:8080'])
    // Its data root: a directory in this level's, holding this engine's store as hard links.
    expect(args[args.indexOf(`${box.path('data/inception-level-2')}:/var/lib/docker`) - 1]).toBe('--volume')
    expect(statSync(box.path('data/inception-level-2/overlay2/abc/diff/bin/sh')).ino).toBe(statSync(box.path('data/overlay2/abc/diff/bin/sh')).ino)
    expect(result.calls.filter((call) => call.startsWith('docker volume'))).toEqual([])

    const nextEnv = readFileSync(box.path('state/next-level.env'), 'utf8').split('\n')
    expect(nextEnv).toContain('INCEPTION_LEVEL=2')
    expect(nextEnv).toContain('INCEPTION_PRIVILEGE_USED=caps')
    expect(nextEnv).toContain('INCEPTION_PORTS=8080@3 5432@1')
    expect(nextEnv.filter((line) => line.startsWith('INCEPTION_LEVEL=') || line.startsWith('INCEPTION_PRIVILEGE_USED='))).toHaveLength(2)
  })

  it('an unknown privilege mode fails the level before anything is created', async () => {
    const box = sandbox({docker})
    const result = await box.run('mkdir -p "$STATE_DIR"\nSTORAGE_DRIVER=overlay2\nlaunch_next_level', {INCEPTION_DEPTH: '2', INCEPTION_PRIVILEGE: 'sudo'})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain("error: unknown privilege mode 'sudo'")
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
        '  sh -c \'trap "sleep 0.3; : >\\"$1/image/stopped\\"; exit 0" TERM; : >"$SANDBOX/engine-up"; while :; do sleep 0.05; done\' \\',
        '    engine "$DATA_DIR" & DOCKERD_PID=$!',
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
    const box = sandbox()
    box.write('data/image/overlay2/repositories.json', TAGS)
    box.write('data/overlay2/abc/link', 'L1')
    const early = [
      'STORAGE_DRIVER=overlay2; start_preparing_next_level; echo "pid:$PREPARE_PID"',
      'wait_for_next_level_preparation; echo "prepared:$PREPARED"; finish_preparing_next_level',
    ].join('\n')
    const second = await box.run(early, {INCEPTION_LEVEL: '2', INCEPTION_DEPTH: '3'})
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.stdout).toMatch(/^pid:\d+\nprepared:yes$/)
    expect(readFileSync(box.path('data/inception-level-3/image/overlay2/repositories.json'), 'utf8')).toBe(TAGS)
    // Level 1 with its seed's layers still coming: nothing early, all of it at launch.
    const first = await box.run(early.replace('start_preparing', 'SEED_LAYERS_PID=1; start_preparing'), {INCEPTION_LEVEL: '1', INCEPTION_DEPTH: '3'})
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stdout).toBe('pid:\nprepared:')
    expect(readFileSync(box.path('data/inception-level-2/image/overlay2/repositories.json'), 'utf8')).toBe(TAGS)
    // The innermost level prepares nothing.
    const last = await box.run('STORAGE_DRIVER=overlay2; start_preparing_next_level; echo "pid:$PREPARE_PID"', {INCEPTION_LEVEL: '3', INCEPTION_DEPTH: '3'})
    expect(last.stdout).toBe('pid:')
  })
})
