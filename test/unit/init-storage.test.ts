import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {planNest} from '../../src/nesting/plan.js'
import {minimalDecision} from '../../src/nesting/privilege.js'
import {renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {loopSizesByLevel, parseDataRoot} from '../../src/nesting/storage.js'
import {initSandboxes, type SandboxFakes} from '../support/init-shell.js'

/**
 * The init's storage steps, run by `sh` on a fake data directory (INCEPTION_DATA_DIR): which data
 * root it mounts how, and which storage driver it settles on. mount, umount, truncate, mkfs.ext4
 * and fuse-overlayfs are fakes that log their arguments.
 */
const newSandbox = initSandboxes()

function sandboxWithData(fakes: SandboxFakes = {}) {
  const sandbox = newSandbox(fakes)
  const data = sandbox.path('data')
  mkdirSync(data)
  return {sandbox, data, env: {INCEPTION_DATA_DIR: data}}
}

describe("the init's data root", () => {
  it('volume: uses the volume as it is, mounting nothing', async () => {
    const {sandbox, env} = sandboxWithData()
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'volume'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.calls).toEqual([])
  })

  it('tmpfs: mounts a tmpfs on the data directory', async () => {
    const {sandbox, data, env} = sandboxWithData()
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'tmpfs'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.calls).toEqual([`mount -t tmpfs -o mode=0711 inception-data-root ${data}`])
  })

  it('loop:SIZE: makes an ext4 file of that size on the volume and mounts it; an existing one is mounted as it is', async () => {
    const {sandbox, data, env} = sandboxWithData()
    const disk = `${data}/inception-disk.ext4`
    const made = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'loop:4294967296'})
    expect(made.exitCode, made.stderr).toBe(0)
    // Allocated, not sparse: the space is the level's from the start (mkfs must not discard it).
    expect(made.calls).toEqual([
      `fallocate -l 4294967296 ${disk}`,
      `mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1,nodiscard ${disk}`,
      `mount -o loop ${disk} ${data}`,
    ])

    writeFileSync(disk, '')
    const again = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'loop:4294967296'})
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.calls).toEqual([`mount -o loop ${disk} ${data}`])
  })

  it("loop: each level's file takes the size the plan gives that level (each holds the ones below it)", async () => {
    const {sandbox, env} = sandboxWithData()
    const plan = planNest(parseUpRequest({depth: 3, dataRoot: parseDataRoot('loop:1G')}), [])
    const sizes: string[] = []
    for (const level of [1, 2, 3]) {
      const dataRoot = renderLevel(plan, minimalDecision(), level).spec.env!.find((entry) => entry.startsWith('INCEPTION_DATA_ROOT='))!
      const result = await sandbox.run('setup_data_root', {...env, INCEPTION_LEVEL: String(level), INCEPTION_DATA_ROOT: dataRoot.split('=')[1]!})
      expect(result.exitCode, result.stderr).toBe(0)
      sizes.push(result.calls.find((call) => call.startsWith('fallocate'))!.split(' ')[2]!)
    }
    expect(sizes).toEqual(loopSizesByLevel(2 ** 30, 3).map(String))
    expect(new Set(sizes).size).toBe(3)
  })

  it('loop: space that is not there fails the level, on the board too, saying how much is free, and leaves no file', async () => {
    const {sandbox, data, env} = sandboxWithData({fallocate: 'echo "fallocate: fallocate failed: No space left on device" >&2; : >"$3"; exit 1'})
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_LEVEL: '2', INCEPTION_DATA_ROOT: 'loop:314572800'})
    expect(result.exitCode).toBe(1)
    const reason = /failed (no room for the loop data root: 300M asked for, \d+M free where it goes \(\S+\))\n$/.exec(
      readFileSync(sandbox.path('board/level-2'), 'utf8'),
    )
    expect(reason, readFileSync(sandbox.path('board/level-2'), 'utf8')).not.toBeNull()
    expect(result.stderr).toContain(`inception-init[level 2]: error: ${reason![1]}`)
    expect(result.calls.filter((call) => !call.startsWith('fallocate'))).toEqual([])
    expect(existsSync(`${data}/inception-disk.ext4`)).toBe(false)
  })

  it('loop: a file system that cannot allocate ahead gets a sparse file, with a warning that the space is not reserved', async () => {
    const {sandbox, data, env} = sandboxWithData({fallocate: 'echo "fallocate: fallocate failed: Operation not supported" >&2; exit 1'})
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'loop:314572800'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toMatch(/warning: .*cannot reserve .*300M.*\(Operation not supported\)/)
    expect(result.calls.slice(0, 2)).toEqual([`fallocate -l 314572800 ${data}/inception-disk.ext4`, `truncate -s 314572800 ${data}/inception-disk.ext4`])
  })

  it('loop: any other allocation failure fails the level with its own words, not as a lack of room', async () => {
    const {sandbox, data, env} = sandboxWithData({fallocate: 'echo "fallocate: fallocate failed: Input/output error" >&2; : >"$3"; exit 1'})
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'loop:314572800'})
    expect(result.exitCode).toBe(1)
    expect(readFileSync(sandbox.path('board/level-1'), 'utf8')).toBe(`failed cannot reserve the loop data root's 300M in ${data}: Input/output error\n`)
    expect(existsSync(`${data}/inception-disk.ext4`)).toBe(false)
  })

  it('loop: a file that cannot be mounted fails the level, on the board too', async () => {
    const {sandbox, data, env} = sandboxWithData({mount: 'exit 32'})
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_DATA_ROOT: 'loop:1000'})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`inception-init[level 1]: error: cannot mount the loop data root ${data}/inception-disk.ext4`)
    expect(readFileSync(sandbox.path('board/level-1'), 'utf8')).toBe(`failed cannot mount the loop data root ${data}/inception-disk.ext4\n`)
  })

  it('an unknown data root fails the level with its name and the choices', async () => {
    const {sandbox, env} = sandboxWithData()
    const result = await sandbox.run('setup_data_root', {...env, INCEPTION_LEVEL: '2', INCEPTION_DATA_ROOT: 'nfs:/srv'})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain("inception-init[level 2]: error: unknown data root 'nfs:/srv' (use volume, tmpfs or loop:SIZE)")
    expect(readFileSync(sandbox.path('board/level-2'), 'utf8')).toBe("failed unknown data root 'nfs:/srv' (use volume, tmpfs or loop:SIZE)\n")
    expect(result.calls).toEqual([])
  })
})

describe("the init's storage driver", () => {
  const choose = 'choose_storage_driver\necho "driver=$STORAGE_DRIVER"'

  it('keeps the driver asked for when its mount works there, probing in a scratch directory it removes', async () => {
    const {sandbox, data, env} = sandboxWithData()
    const result = await sandbox.run(choose, {...env, INCEPTION_STORAGE_DRIVER: 'overlay2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('driver=overlay2')
    expect(result.stderr).not.toContain('warning')
    const probe = `${data}/.inception-probe`
    expect(result.calls).toEqual([
      `mount -t overlay overlay -o lowerdir=${probe}/lower,upperdir=${probe}/upper,workdir=${probe}/work ${probe}/merged`,
      `umount ${probe}/merged`,
    ])
    expect(existsSync(probe)).toBe(false)
  })

  it('falls back to the next driver that works when the overlay mount fails, with a warning', async () => {
    // No overlay mount and no fuse-overlayfs: vfs, the driver that always works, is left.
    const {sandbox, env} = sandboxWithData({mount: '[ "$2" != overlay ]', 'fuse-overlayfs': 'exit 1'})
    const result = await sandbox.run(choose, {...env, INCEPTION_STORAGE_DRIVER: 'overlay2'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('driver=vfs')
    expect(result.stderr).toMatch(/inception-init\[level 1\]: warning: storage driver overlay2 does not work on \S+ here; using vfs/)
    expect(result.calls.filter((call) => call.startsWith('mount -t overlay'))).toHaveLength(2)
  })

  it('falls back from fuse-overlayfs to overlay2 when fuse-overlayfs cannot mount', async () => {
    const {sandbox, env} = sandboxWithData({'fuse-overlayfs': 'exit 1'})
    const result = await sandbox.run(choose, {...env, INCEPTION_STORAGE_DRIVER: 'fuse-overlayfs'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('driver=overlay2')
    expect(result.stderr).toMatch(/warning: storage driver fuse-overlayfs does not work on \S+ here; using overlay2/)
  })

  it('vfs asked for is vfs, with no mount tried', async () => {
    const {sandbox, env} = sandboxWithData({mount: 'exit 1'})
    const result = await sandbox.run(choose, {...env, INCEPTION_STORAGE_DRIVER: 'vfs'})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('driver=vfs')
    expect(result.calls.filter((call) => call.startsWith('mount'))).toEqual([])
    expect(result.stderr).not.toContain('warning')
  })
})
