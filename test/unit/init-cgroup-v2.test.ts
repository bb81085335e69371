import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's cgroup v2 step, run by `sh` on a fake tree (the sandbox's cgroup root): what it
 * writes where, and what it reports as failure (on the sandbox's board). No engine, no real cgroups.
 */
const newSandbox = initSandboxes()
const boxes = new Map<string, InitSandbox>()

function fakeTree(procs: string, controllers: string): string {
  const box = newSandbox()
  const root = box.path('cgroup')
  boxes.set(root, box)
  mkdirSync(root)
  writeFileSync(join(root, 'cgroup.procs'), procs)
  writeFileSync(join(root, 'cgroup.controllers'), controllers)
  writeFileSync(join(root, 'cgroup.subtree_control'), '')
  return root
}

async function setupCgroupV2(root: string) {
  // The real /proc: whether a process still exists is what the step asks it.
  return boxes.get(root)!.run('setup_cgroup_v2')
}

/** What the step wrote on the board of the sandbox whose tree this is. */
const board = (root: string) => readFileSync(boxes.get(root)!.path('board/level-1'), 'utf8')

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
    expect(board(root)).toBe(`failed cannot move process 1 into ${root}/init\n`)

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
    expect(board(root)).toBe(`failed cannot enable the controllers cpu memory in ${root}/cgroup.subtree_control\n`)
  })
})
