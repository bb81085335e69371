import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's cgroup v1 step (setup_cgroups on a tree without cgroup.controllers), run by `sh` on
 * a fake tree: a fake cgroup root (INCEPTION_CGROUP_ROOT) and a fake mount table
 * (INCEPTION_PROC/self/mounts), with mount, umount and mountpoint as fakes that log their
 * arguments. A failure fails the level, on the board too, saying why.
 */
const newSandbox = initSandboxes()

// The kernel's way, which the fakes follow: `umount -l` takes the entry out of the table, a
// mount appends its own at the end.
const UMOUNT = `[ "$1" = -l ] && awk -v dir="$2" '$2 != dir' "$SANDBOX/proc/self/mounts" >"$SANDBOX/m" && mv "$SANDBOX/m" "$SANDBOX/proc/self/mounts"`
const mountAppending = (mode: string) =>
  `[ "$2" = cgroup ] && printf 'cgroup %s cgroup ${mode},nosuid,nodev,noexec,relatime,%s 0 0\\n' "$6" "$4" >>"$SANDBOX/proc/self/mounts"; exit 0`

function tree(sandbox: InitSandbox, hierarchies: Array<[name: string, options: string]>) {
  const root = sandbox.path('cgroup')
  mkdirSync(root)
  const lines = [
    'sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0',
    `tmpfs ${root} tmpfs ro,nosuid,nodev,noexec,relatime,mode=755 0 0`,
    ...hierarchies.map(([name, options]) => `cgroup ${root}/${name} cgroup ${options} 0 0`),
    `cgroup2 ${root}/unified cgroup2 ro,nosuid,nodev,noexec,relatime,nsdelegate 0 0`,
  ]
  sandbox.write('proc/self/mounts', `${lines.join('\n')}\n`)
  return {root, env: {INCEPTION_CGROUP_ROOT: root, INCEPTION_PROC: sandbox.path('proc')}}
}

const STEP = 'setup_cgroups'

describe("the init's cgroup v1 step, on a fake tree", () => {
  it('remounts each read-only hierarchy with its own subsystems, and leaves a writable one alone', async () => {
    const sandbox = newSandbox({umount: UMOUNT, mount: mountAppending('rw')})
    const {root, env} = tree(sandbox, [
      ['systemd', 'ro,nosuid,nodev,noexec,relatime,xattr,name=systemd'],
      ['cpu,cpuacct', 'ro,nosuid,nodev,noexec,relatime,cpu,cpuacct'],
      ['pids', 'rw,nosuid,nodev,noexec,relatime,pids'],
      ['memory', 'ro,nosuid,nodev,noexec,relatime,clone_children,memory'],
    ])
    const result = await sandbox.run(STEP, env)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.calls).toEqual([
      `mountpoint -q ${root}`,
      `umount -l ${root}/systemd`,
      `mount -t cgroup -o xattr,name=systemd cgroup ${root}/systemd`,
      `umount -l ${root}/cpu,cpuacct`,
      `mount -t cgroup -o cpu,cpuacct cgroup ${root}/cpu,cpuacct`,
      `umount -l ${root}/memory`,
      `mount -t cgroup -o memory cgroup ${root}/memory`,
    ])
    // The probe for a writable root is gone.
    expect(existsSync(`${root}/.inception-rw`)).toBe(false)
  })

  it('mounts a tmpfs on the cgroup root when nothing is mounted there, and a read-only root again read-write', async () => {
    const sandbox = newSandbox({mountpoint: 'exit 1'})
    const {root, env} = tree(sandbox, [['pids', 'rw,nosuid,pids']])
    const unmounted = await sandbox.run(STEP, env)
    expect(unmounted.exitCode, unmounted.stderr).toBe(0)
    expect(unmounted.calls).toEqual([`mountpoint -q ${root}`, `mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup ${root}`])

    // A root the init cannot write to (here a file, since the tests may run as root).
    const readOnly = newSandbox()
    writeFileSync(readOnly.path('cgroup'), '')
    readOnly.write('proc/self/mounts', `cgroup ${readOnly.path('cgroup')}/pids cgroup rw,pids 0 0\n`)
    const remounted = await readOnly.run(STEP, {INCEPTION_CGROUP_ROOT: readOnly.path('cgroup'), INCEPTION_PROC: readOnly.path('proc')})
    expect(remounted.exitCode, remounted.stderr).toBe(0)
    expect(remounted.calls).toEqual([`mountpoint -q ${readOnly.path('cgroup')}`, `mount -o remount,rw ${readOnly.path('cgroup')}`])
  })

  it('fails when a hierarchy is still read-only after its remount, naming it', async () => {
    // The kernel mounts memory read-only again (as when the namespace forbids more).
    const sandbox = newSandbox({
      umount: UMOUNT,
      mount: `case "$6" in */memory) ${mountAppending('ro')} ;; *) ${mountAppending('rw')} ;; esac`,
    })
    const {root, env} = tree(sandbox, [
      ['cpu', 'ro,nosuid,cpu'],
      ['memory', 'ro,nosuid,memory'],
    ])
    const result = await sandbox.run(STEP, env)
    expect(result.exitCode).toBe(1)
    expect(readFileSync(sandbox.path('board/level-1'), 'utf8')).toBe(`failed cgroup hierarchies still read-only: ${root}/memory\n`)
    expect(result.stderr).toContain(`error: cgroup hierarchies still read-only: ${root}/memory`)
    expect(result.stderr).not.toContain(`${root}/cpu\n`)
    expect(readFileSync(sandbox.path('proc/self/mounts'), 'utf8')).toContain(`cgroup ${root}/cpu cgroup rw,`)
  })

  it('fails as soon as a remount fails, and tries no further hierarchy', async () => {
    const sandbox = newSandbox({umount: UMOUNT, mount: `[ "$6" != "$SANDBOX/cgroup/cpu" ] || exit 32; ${mountAppending('rw')}`})
    const {root, env} = tree(sandbox, [
      ['cpu', 'ro,nosuid,cpu'],
      ['memory', 'ro,nosuid,memory'],
    ])
    const result = await sandbox.run(STEP, env)
    expect(result.exitCode).toBe(1)
    expect(readFileSync(sandbox.path('board/level-1'), 'utf8')).toBe(`failed cannot mount the cgroup hierarchy ${root}/cpu (cpu) again\n`)
    expect(result.calls).toEqual([`mountpoint -q ${root}`, `umount -l ${root}/cpu`, `mount -t cgroup -o cpu cgroup ${root}/cpu`])
  })
})
