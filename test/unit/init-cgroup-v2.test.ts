import {execa} from 'execa'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {ROOT} from '../support/integration.js'

/**
 * The init's cgroup v2 step, run by `sh` on a fake tree (INCEPTION_CGROUP_ROOT): what it writes
 * where, and what it reports as failure. No engine, no real cgroups.
 */
const trees: string[] = []

function fakeTree(procs: string, controllers: string): string {
  const root = mkdtempSync(join(tmpdir(), 'itest-cgroup2-'))
  trees.push(root)
  writeFileSync(join(root, 'cgroup.procs'), procs)
  writeFileSync(join(root, 'cgroup.controllers'), controllers)
  writeFileSync(join(root, 'cgroup.subtree_control'), '')
  return root
}

async function setupCgroupV2(root: string) {
  return execa('sh', ['-c', '. ./image/init.sh && setup_cgroup_v2'], {
    cwd: ROOT,
    reject: false,
    env: {INCEPTION_INIT_SOURCED: '1', INCEPTION_LIB: join(ROOT, 'image'), INCEPTION_CGROUP_ROOT: root},
  })
}

afterEach(() => {
  for (const tree of trees.splice(0)) rmSync(tree, {recursive: true, force: true})
})

describe("the init's cgroup v2 step, on a fake tree", () => {
  it('moves every process into init and enables every controller in one write', async () => {
    const root = fakeTree('1\n57\n', 'cpuset cpu io memory pids\n')
    const result = await setupCgroupV2(root)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(join(root, 'init/cgroup.procs'), 'utf8')).toBe('1\n57\n')
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+cpuset +cpu +io +memory +pids ')
  })

  it('with an empty controller list: moves the processes, writes no lone "+", and says limits are off', async () => {
    const root = fakeTree('1\n', '\n')
    const result = await setupCgroupV2(root)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(join(root, 'init/cgroup.procs'), 'utf8')).toBe('1\n')
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('')
    expect(result.stderr).toContain('cgroup v2 without controllers')
  })

  it('fails when a process that still exists cannot be moved, but not for one that has ended', async () => {
    // PID 1 exists wherever the test runs; no PID is this large.
    const root = fakeTree('1\n', 'memory\n')
    mkdirSync(join(root, 'init/cgroup.procs'), {recursive: true})
    const live = await setupCgroupV2(root)
    expect(live.exitCode).toBe(1)
    expect(live.stderr).toContain(`cannot move process 1 into ${root}/init`)

    const gone = fakeTree('4194999999\n', 'memory\n')
    mkdirSync(join(gone, 'init/cgroup.procs'), {recursive: true})
    const ended = await setupCgroupV2(gone)
    expect(ended.exitCode, ended.stderr).toBe(0)
    expect(readFileSync(join(gone, 'cgroup.subtree_control'), 'utf8')).toBe('+memory ')
  })

  it('fails when the controllers cannot be enabled', async () => {
    const root = fakeTree('1\n', 'cpu memory\n')
    rmSync(join(root, 'cgroup.subtree_control'))
    mkdirSync(join(root, 'cgroup.subtree_control'))
    const result = await setupCgroupV2(root)
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('cannot enable the controllers cpu memory')
  })
})
