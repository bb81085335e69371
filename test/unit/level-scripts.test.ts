import {execa} from 'execa'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {BOARD_READ_SCRIPT, BOARD_WATCH_SCRIPT, boardsOfWatch} from '../../src/nesting/board.js'
import {EXEC_MARK_VARIABLE, shellContract} from '../../src/nesting/contract.js'
import {levelScript, type LevelScript} from '../../src/nesting/level-scripts.js'
import {SHORTCUT_SCRIPT, shortcutCommand} from '../../src/nesting/nsenter-path.js'

/**
 * The CLI's scripts for level 1 (image/cli/), run by `sh` as level 1 runs them, on a fake nest:
 * a board with levels 2 and 3 (ids l2, l3), a fake cgroup tree (INCEPTION_CGROUP_ROOT) in the
 * cgroup v1 or v2 layout, and a fake /proc (INCEPTION_PROC) with each process's NSpid line and
 * mount table. `perl` (the shortcut's way into a level) and `docker` are fakes that print their
 * arguments. No engine, no real cgroups.
 */
const trees: string[] = []

afterEach(() => {
  for (const tree of trees.splice(0)) rmSync(tree, {recursive: true, force: true})
})

type Layout = 'v1' | 'v2'

/** Where a level's processes are listed, and its memory, in each layout; cgroup is "/docker/l2"... */
const PROCS = {v1: (cgroup: string) => `pids${cgroup}/cgroup.procs`, v2: (cgroup: string) => `${cgroup}/init/cgroup.procs`}
const MEMORY = {v1: (cgroup: string) => `memory${cgroup}/memory.usage_in_bytes`, v2: (cgroup: string) => `${cgroup}/memory.current`}

interface FakeLevel {
  /** Its processes: pid -> NSpid line (the namespace depth), or a mount table of a read-only data root. */
  processes: Record<string, {nspid: string; readOnly?: boolean}>
  memory?: string
}

function fakeNest(layout: Layout, levels: Record<number, FakeLevel>, board: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'itest-level-scripts-'))
  trees.push(dir)
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), {recursive: true})
    writeFileSync(join(dir, path), text)
  }
  const mounts = (readOnly: boolean) => `overlay / overlay rw 0 0\n/dev/loop3 /var/lib/docker ext4 ${readOnly ? 'ro' : 'rw'},relatime 0 0\n`
  write('proc/self/mounts', mounts(false))
  write(layout === 'v1' ? 'cgroup/memory/memory.usage_in_bytes' : 'cgroup/memory.current', '1000\n')
  write('board/level-1', 'ready overlay2\n')
  let cgroup = ''
  for (const [level, fake] of Object.entries(levels)) {
    cgroup += `/docker/l${level}`
    write(`board/info-${level}`, `id=l${level}\nhostname=h${level}\n`)
    write(
      `cgroup/${PROCS[layout](cgroup)}`,
      Object.keys(fake.processes)
        .map((pid) => `${pid}\n`)
        .join(''),
    )
    // v1: another hierarchy, which the shortcut joins too; v2: the level's own cgroup, empty once its init moved.
    write(layout === 'v1' ? `cgroup/cpu${cgroup}/cgroup.procs` : `cgroup${cgroup}/cgroup.procs`, '')
    if (fake.memory) write(`cgroup/${MEMORY[layout](cgroup)}`, `${fake.memory}\n`)
    for (const [pid, {nspid, readOnly}] of Object.entries(fake.processes)) {
      write(`proc/${pid}/status`, `Name:\tx\nNSpid:\t${nspid}\n`)
      write(`proc/${pid}/mounts`, mounts(readOnly ?? false))
    }
  }
  for (const [name, text] of Object.entries(board)) write(`board/${name}`, text)
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  // perl is exec'd by the shortcut's own shell: its $$ is the pid that shell wrote into cgroups.
  const fakes = {perl: 'shift 2; echo "perl $$ $*"', docker: 'echo "docker $*"'}
  for (const [name, body] of Object.entries(fakes)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`)
    chmodSync(join(bin, name), 0o755)
  }

  /** The script running; `onStdout` sees its output as it comes. */
  const run = async (script: LevelScript, args: string[] = [], onStdout?: (text: string) => void) => {
    const text = levelScript(script, `${shellContract()}BOARD_DIR='${join(dir, 'board')}'\n`)
    const running = execa('sh', ['-c', text, 'sh', ...args], {
      reject: false,
      // As an exec hands it over: the watch ends each board with an empty line.
      stripFinalNewline: false,
      extendEnv: false,
      env: {PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, INCEPTION_CGROUP_ROOT: join(dir, 'cgroup'), INCEPTION_PROC: join(dir, 'proc')},
    })
    let seen = ''
    if (onStdout) running.stdout?.on('data', (chunk: Buffer) => onStdout((seen += chunk.toString('utf8'))))
    const result = await running
    return {exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr)}
  }
  const read = (path: string) => readFileSync(join(dir, path), 'utf8')
  return {dir, run, read}
}

/**
 * Level 2 (init 101, listed after 99, a process of level 2 that is PID 1 of a PID namespace of its
 * own) and level 3 (init 201).
 */
const twoLevels = (): Record<number, FakeLevel> => ({
  2: {processes: {99: {nspid: '99\t7\t1'}, 101: {nspid: '101\t1'}}, memory: '2000'},
  3: {processes: {201: {nspid: '201\t9\t1'}}, memory: '3000'},
})

describe('the scripts the CLI runs in level 1', () => {
  it('are the contract, the shared cgroup walk and the script, as the files say', () => {
    const file = (name: string) => readFileSync(new URL(`../../image/cli/${name}`, import.meta.url), 'utf8')
    expect(BOARD_READ_SCRIPT).toBe([shellContract(), file('cgroups.sh'), file('board-read.sh')].join('\n'))
    expect(BOARD_WATCH_SCRIPT).toBe([shellContract(), file('cgroups.sh'), file('board-watch.sh')].join('\n'))
    expect(SHORTCUT_SCRIPT).toBe([shellContract(), file('cgroups.sh'), file('shortcut.sh')].join('\n'))
    expect(shortcutCommand('n', 3, ['id', '-u'], {interactive: true, tty: false})).toEqual([
      'sh',
      '-c',
      SHORTCUT_SCRIPT,
      'sh',
      '3',
      '-i',
      'n-l2 n-l3',
      '--',
      'id',
      '-u',
    ])
  })
})

describe("the board's watch while `up` waits", () => {
  const states = (board: Array<{state: string}>) => board.map((report) => report.state)

  it('prints the board once and ends when every level is ready', async () => {
    const nest = fakeNest('v1', twoLevels(), {'level-2': 'ready vfs\n', 'level-3': 'ready overlay2\n'})
    const result = await nest.run('board-watch.sh', ['3', '30'])
    expect(result.exitCode, result.stderr).toBe(0)
    const {boards, rest} = boardsOfWatch(result.stdout, 3)
    expect(rest).toBe('')
    expect(boards.map(states)).toEqual([['ready', 'ready', 'ready']])
    expect(boards[0]![2]!.detail).toBe('overlay2')
    expect(boards[0]![1]!.info).toEqual({id: 'l2', hostname: 'h2'})
  })

  it("prints the board again when a level's state changes, and ends when one has failed", async () => {
    const nest = fakeNest('v1', twoLevels(), {'level-2': 'starting\n'})
    // Once the watch has printed its first board (level 2 starting), level 2 fails.
    let failed = false
    const result = await nest.run('board-watch.sh', ['3', '30'], (stdout) => {
      if (failed || boardsOfWatch(stdout, 3).boards.length === 0) return
      failed = true
      writeFileSync(join(nest.dir, 'board/level-2'), 'failed dockerd exited\n')
    })
    expect(result.exitCode, result.stderr).toBe(0)
    const {boards} = boardsOfWatch(result.stdout, 3)
    expect(boards.map(states)).toEqual([
      ['ready', 'starting', 'absent'],
      ['ready', 'failed', 'absent'],
    ])
    expect(boards[1]![1]!.detail).toBe('dockerd exited')
  })

  it('ends at its deadline while a level is still on its way', async () => {
    const nest = fakeNest('v1', twoLevels(), {'level-2': 'ready vfs\n', 'level-3': 'starting\n'})
    const result = await nest.run('board-watch.sh', ['3', '1'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(boardsOfWatch(result.stdout, 3).boards.map(states)).toEqual([['ready', 'ready', 'starting']])
  })
})

describe.each(['v1', 'v2'] as const)('the board read on a fake cgroup %s tree', (layout) => {
  it("prints every level's state, details, memory and liveness, walking the cgroups by the board's ids", async () => {
    const levels = twoLevels()
    levels[3]!.processes = {}
    const nest = fakeNest(layout, levels, {'level-2': 'ready vfs\n', 'level-3': 'starting\n'})
    const result = await nest.run('board-read.sh')
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout.split('\n').filter(Boolean)).toEqual([
      'state 1 ready overlay2',
      'state 2 ready vfs',
      'state 3 starting',
      'info 2 id=l2',
      'info 2 hostname=h2',
      'info 3 id=l3',
      'info 3 hostname=h3',
      'memory 1 1000',
      'memory 2 2000',
      'alive 2 yes',
      'memory 3 3000',
      'alive 3 no',
    ])
  })

  it("reads a level's data root as read-only from its first process's mount table, level 1's from its own", async () => {
    const levels = twoLevels()
    levels[3]!.processes[201]!.readOnly = true
    const nest = fakeNest(layout, levels)
    writeFileSync(join(nest.dir, 'proc/self/mounts'), '/dev/loop1 /var/lib/docker ext4 rw,emergency_ro 0 0\n')
    const result = await nest.run('board-read.sh')
    expect(result.stdout.split('\n').filter((line) => line.startsWith('readonly'))).toEqual(['readonly 1', 'readonly 3'])
  })

  it('stops the walk at the first level whose id is not on the board yet', async () => {
    const nest = fakeNest(layout, twoLevels(), {'info-2': 'hostname=h2\n'})
    const result = await nest.run('board-read.sh')
    expect(result.stdout).not.toMatch(/^(memory|alive) [23]/m)
    expect(result.stdout).toContain('info 3 id=l3')
  })
})

describe.each(['v1', 'v2'] as const)('the shortcut on a fake cgroup %s tree', (layout) => {
  it("enters level K by its init, the process of its cgroup that is PID 1 K namespaces deep, after joining the level's cgroups", async () => {
    const nest = fakeNest(layout, twoLevels())
    const result = await nest.run('shortcut.sh', ['3', '-i -t', 'n-l2 n-l3', '--', 'id', '-u'])
    expect(result.exitCode, result.stderr).toBe(0)
    const [, shell, pid, tty, mark, ...cmd] = result.stdout.trim().split(' ')
    expect({pid, tty, mark, cmd}).toEqual({pid: '201', tty: '1', mark: EXEC_MARK_VARIABLE, cmd: ['id', '-u']})
    // The shell is now in level 3's cgroups: v1 every hierarchy of its cgroup, v2 the init cgroup.
    const joined =
      layout === 'v1' ? ['pids/docker/l2/docker/l3/cgroup.procs', 'cpu/docker/l2/docker/l3/cgroup.procs'] : ['docker/l2/docker/l3/init/cgroup.procs']
    for (const procs of joined) expect(nest.read(`cgroup/${procs}`), procs).toBe(`${shell}\n`)
    if (layout === 'v2') expect(nest.read('cgroup/docker/l2/docker/l3/cgroup.procs')).toBe('')
  })

  it("takes level 2's init, not a process of level 2 that is PID 1 of a namespace of its own, and no terminal without -t", async () => {
    const nest = fakeNest(layout, twoLevels())
    const result = await nest.run('shortcut.sh', ['2', '-i', 'n-l2', '--', 'sh'])
    expect(result.stdout.trim().split(' ').slice(2)).toEqual(['101', '', EXEC_MARK_VARIABLE, 'sh'])
  })

  it("falls back to the chain of docker execs, the mark passed down every hop, where the level's init is not found", async () => {
    const levels = twoLevels()
    levels[3]!.processes = {202: {nspid: '202\t9\t3'}}
    for (const [why, nest] of [
      ['no init', fakeNest(layout, levels)],
      ['no id on the board', fakeNest(layout, twoLevels(), {'info-3': 'hostname=h3\n'})],
    ] as const) {
      const result = await nest.run('shortcut.sh', ['3', '-i', 'n-l2 n-l3', '--', 'cat'])
      expect(result.stdout.trim(), why).toBe(`docker exec -i -e ${EXEC_MARK_VARIABLE} n-l2 docker exec -i -e ${EXEC_MARK_VARIABLE} n-l3 cat`)
    }
  })
})
