import {describe, expect, it} from 'vitest'

import {parseBoard} from '../../src/nesting/board.js'
import {type BudgetInput, checkFuse, ENGINE_NEED, fitBudgetsToEngine, parseBudget, splitBudgets} from '../../src/nesting/budgets.js'
import {BudgetUnenforceable, UsageError} from '../../src/nesting/errors.js'
import {planNest} from '../../src/nesting/plan.js'
import type {PrivilegeDecision} from '../../src/nesting/privilege.js'
import {dockerRunArguments, levelOneSpec, renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {budgetOf} from '../../src/nesting/status.js'

const MiB = 2 ** 20
const thrown = (run: () => unknown): UsageError => {
  try {
    run()
  } catch (error) {
    return error as UsageError
  }
  throw new Error('nothing was thrown')
}
const DECISION: PrivilegeDecision = {mode: 'caps', capDrop: ['SYS_RESOURCE'], reason: 'test'}
const ENGINE = {memTotalBytes: 8192 * MiB, cpus: 4, limits: {memory: true, cpuQuota: true, cpuset: true, pids: true}}

describe('parseBudget', () => {
  it('reads AMOUNT and AMOUNT@LEVEL', () => {
    expect(parseBudget('memory', '1g')).toEqual({amount: 1024 * MiB})
    expect(parseBudget('memory', '512M@3')).toEqual({amount: 512 * MiB, level: 3})
    expect(parseBudget('cpus', '1.5')).toEqual({amount: 1.5})
    expect(parseBudget('cpus', '0.25@2')).toEqual({amount: 0.25, level: 2})
    expect(parseBudget('pids', '512')).toEqual({amount: 512})
  })

  it.each([
    ['memory', 'lots', /--memory lots is not a size/],
    ['memory', '1g@0', /"0" is not a level/],
    ['memory', '1g@x', /"x" is not a level/],
    ['cpus', 'abc', /--cpus abc is not a number of CPUs/],
    ['cpus', '0', /--cpus 0 gives no CPU time at all/],
    ['cpus', '-1', /--cpus -1 is not a number of CPUs/],
    ['cpus', '1.234', /not a number of CPUs/],
    ['pids', '5.5', /--pids 5.5 is not a whole number/],
  ] as const)('refuses %s %s', (resource, text, pattern) => {
    expect(() => parseBudget(resource, text)).toThrow(UsageError)
    expect(() => parseBudget(resource, text)).toThrow(pattern)
  })
})

describe('splitBudgets', () => {
  it("gives a level without a budget its parent's, less its parent's engine's need (none for CPUs)", () => {
    const levels = splitBudgets({memory: [{amount: 1024 * MiB}], cpus: [{amount: 1.5}], pids: [{amount: 512}]}, 3)
    expect(levels).toEqual([
      {memoryBytes: 1024 * MiB, cpus: 1.5, pids: 512},
      {memoryBytes: 1024 * MiB - ENGINE_NEED.memory, cpus: 1.5, pids: 512 - ENGINE_NEED.pids},
      {memoryBytes: 1024 * MiB - 2 * ENGINE_NEED.memory, cpus: 1.5, pids: 512 - 2 * ENGINE_NEED.pids},
    ])
  })

  it('takes a level its own budget, and the levels below split it in turn', () => {
    const levels = splitBudgets({memory: [{amount: 1024 * MiB}, {amount: 512 * MiB, level: 2}], cpus: [{amount: 0.5, level: 3}]}, 3)
    expect(levels.map((l) => l.memoryBytes)).toEqual([1024 * MiB, 512 * MiB, 512 * MiB - ENGINE_NEED.memory])
    expect(levels.map((l) => l.cpus)).toEqual([undefined, undefined, 0.5])
  })

  it('bounds nothing when nothing is given', () => {
    expect(splitBudgets({}, 2)).toEqual([{}, {}])
  })

  it.each([
    [{memory: [{amount: 1024}]}, 1, /--memory 1K is less than a level's engine needs \(128M\)/],
    [{memory: [{amount: 300 * MiB}]}, 3, /--memory 300M leaves level 3 44M, less than a level's engine needs \(128M\)/, 'give --memory at least 384M (each'],
    [
      {memory: [{amount: 1024 * MiB}, {amount: 900 * MiB, level: 3}]},
      3,
      /--memory 900M@3 is more than level 2 can give it \(its 896M less its engine's 128M: 768M\)/,
    ],
    [{memory: [{amount: 1024 * MiB}, {amount: 2048 * MiB, level: 1}]}, 2, /--memory is given twice for level 1/],
    [{memory: [{amount: 512 * MiB, level: 4}]}, 3, /--memory 512M@4: the nest has 3 levels/],
    [{cpus: [{amount: 1}, {amount: 2, level: 2}]}, 2, /--cpus 2@2 is more than level 1 can give it \(its 1\)/],
    [{pids: [{amount: 5}]}, 1, /--pids 5 is less than a level's engine needs \(64\)/],
    [{pids: [{amount: 100, level: 2}]}, 3, /--pids 100@2 leaves level 3 36, less than a level's engine needs \(64\)/, 'give --pids at least 128@2 (each'],
    [{memory: [{amount: 300 * MiB}, {amount: 200 * MiB, level: 4}]}, 4, /leaves level 3 44M/, 'give --memory at least 584M (each'],
  ] as Array<[BudgetInput, number, RegExp, string?]>)('refuses %j at depth %i', (input, depth, pattern, hint) => {
    expect(() => splitBudgets(input, depth)).toThrow(pattern)
    if (hint) expect(thrown(() => splitBudgets(input, depth)).hint).toContain(hint)
  })
})

describe('fitBudgetsToEngine', () => {
  it('refuses a budget the engine has no controller for, naming the flag', () => {
    const budgets = splitBudgets({pids: [{amount: 512}]}, 1)
    const noPids = {...ENGINE, limits: {...ENGINE.limits, pids: false}}
    expect(() => fitBudgetsToEngine(budgets, noPids, 'n')).toThrow(BudgetUnenforceable)
    expect(() => fitBudgetsToEngine(budgets, noPids, 'n')).toThrow(/--pids cannot be enforced on this engine/)
    // Without a budget, an engine without controllers is fine.
    expect(fitBudgetsToEngine(splitBudgets({}, 1), {...ENGINE, limits: {memory: false, cpuQuota: false, cpuset: false, pids: false}}, 'n')).toEqual([{}])
  })

  it('refuses more than the engine has, at the first level given a budget', () => {
    expect(() => fitBudgetsToEngine(splitBudgets({memory: [{amount: 16_384 * MiB, level: 2}]}, 3), ENGINE, 'n')).toThrow(
      /--memory 16G@2 is more than the engine has/,
    )
    expect(() => fitBudgetsToEngine(splitBudgets({cpus: [{amount: 8, level: 3}]}, 3), ENGINE, 'n')).toThrow(/--cpus 8@3 is more than the engine's 4 CPUs/)
    expect(() => fitBudgetsToEngine(splitBudgets({memory: [{amount: 16_384 * MiB}]}, 1), ENGINE, 'n')).toThrow(
      /--memory 16G is more than the engine has \(8192M\)/,
    )
    expect(() => fitBudgetsToEngine(splitBudgets({cpus: [{amount: 8}]}, 1), ENGINE, 'n')).toThrow(/--cpus 8 is more than the engine's 4 CPUs/)
  })

  it("gives each level with CPUs as many as its budget rounded up, the first of its parent's", () => {
    const budgets = splitBudgets({cpus: [{amount: 2.5}, {amount: 1.5, level: 2}, {amount: 0.5, level: 3}]}, 3)
    const fitted = fitBudgetsToEngine(budgets, ENGINE, 'some-nest')
    const lists = fitted.map((b) => b.cpuset!.split(',').map(Number))
    expect(lists.map((list) => list.length)).toEqual([3, 2, 1])
    for (const [i, list] of lists.entries()) {
      for (const cpu of list) expect(cpu).toBeLessThan(4)
      if (i > 0) expect(lists[i - 1]).toEqual(expect.arrayContaining(list))
    }
    // Nests of other names start elsewhere: over a few names, more than one first CPU.
    const firsts = new Set(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => fitBudgetsToEngine(splitBudgets({cpus: [{amount: 1}]}, 1), ENGINE, name)[0]!.cpuset))
    expect(firsts.size).toBeGreaterThan(1)
  })
})

describe("a level's container with budgets", () => {
  const plan = (args: Parameters<typeof parseUpRequest>[0]) => {
    const request = parseUpRequest(args)
    return planNest({...request, budgets: fitBudgetsToEngine(request.budgets, ENGINE, request.name)}, [])
  }

  it('bounds level 1 through the engine API, with /dev/fuse for lxcfs, and tells its init to serve and count', () => {
    const spec = levelOneSpec(plan({depth: 2, budgets: {memory: [{amount: 1024 * MiB}], cpus: [{amount: 1}], pids: [{amount: 512}]}}), DECISION)
    expect(spec.host).toMatchObject({memory: 1024 * MiB, memorySwap: 1024 * MiB, nanoCpus: 1e9, pidsLimit: 512, devices: ['/dev/fuse']})
    expect(spec.host?.cpusetCpus).toMatch(/^\d$/)
    expect(spec.env).toEqual(expect.arrayContaining(['INCEPTION_PROC_VIEW=serve', 'INCEPTION_OOM_COUNT=1']))
  })

  it("bounds level 2 in its `docker run` arguments, and mounts lxcfs's files over its /proc", () => {
    const nest = plan({depth: 2, budgets: {memory: [{amount: 1024 * MiB}], pids: [{amount: 512}], cpus: [{amount: 2}, {amount: 0.5, level: 2}]}})
    const args = dockerRunArguments(renderLevel(nest, DECISION, 2))
    const after = (flag: string) => args[args.indexOf(flag) + 1]
    expect([after('--memory'), after('--memory-swap'), after('--pids-limit'), after('--cpus')]).toEqual([String(896 * MiB), String(896 * MiB), '448', '0.5'])
    expect(after('--cpuset-cpus')).toMatch(/^\d$/)
    expect(args).toEqual(expect.arrayContaining(['/var/lib/lxcfs:/var/lib/lxcfs', '/var/lib/lxcfs/proc/meminfo:/proc/meminfo']))
    expect(args).toEqual(expect.arrayContaining(['INCEPTION_PROC_VIEW=', 'INCEPTION_OOM_COUNT=1']))
  })

  it('bounds nothing, mounts nothing and serves nothing without budgets', () => {
    const nest = plan({depth: 2})
    const spec = levelOneSpec(nest, DECISION)
    for (const key of ['memory', 'nanoCpus', 'cpusetCpus', 'pidsLimit', 'devices'] as const) expect(spec.host?.[key], key).toBeUndefined()
    expect(spec.env).toEqual(expect.arrayContaining(['INCEPTION_PROC_VIEW=', 'INCEPTION_OOM_COUNT=']))
    const args = dockerRunArguments(renderLevel(nest, DECISION, 2))
    for (const flag of ['--memory', '--cpus', '--cpuset-cpus', '--pids-limit', '--device']) expect(args).not.toContain(flag)
    expect(args.some((arg) => arg.includes('lxcfs'))).toBe(false)
  })
})

describe('checkFuse', () => {
  it('refuses budgets on a machine without /dev/fuse, and nothing else', () => {
    expect(() => checkFuse(splitBudgets({pids: [{amount: 512}]}, 1), () => false)).toThrow(/budgets need \/dev\/fuse on this machine/)
    expect(() => checkFuse(splitBudgets({}, 1), () => false)).not.toThrow()
    expect(() => checkFuse(splitBudgets({pids: [{amount: 512}]}, 1), () => true)).not.toThrow()
  })
})

describe("ps's budget of a level", () => {
  it('reads the resource lines of the board (cgroup v1 figures)', () => {
    const [, second] = parseBoard(
      [
        'state 2 ready overlay2',
        'resource 2 memory_max=939524096',
        'resource 2 cpu_quota_us=100000',
        'resource 2 cpu_period_us=100000',
        'resource 2 cpuset=1',
        'resource 2 pids_max=448',
        'resource 2 pids=54',
        'resource 2 cpu_usec=2500000',
        'resource 2 oom_kills=3',
      ].join('\n'),
      2,
    )
    expect(budgetOf(second!.resources)).toEqual({memoryBytes: 896 * MiB, cpus: 1, cpuset: '1', pids: 448, pidsUsed: 54, cpuSeconds: 2.5, oomKills: 3})
  })

  it('sees no budget in an unbounded level (v1 and v2 words for none)', () => {
    expect(budgetOf({memory_max: '9223372036854771712', cpu_quota_us: '-1', cpu_period_us: '100000', pids_max: 'max', pids: '20'})).toBeUndefined()
    expect(budgetOf({memory_max: 'max', cpu_quota_us: 'max', cpu_period_us: '100000', pids_max: 'max'})).toBeUndefined()
    expect(budgetOf(undefined)).toBeUndefined()
  })

  it('reads cgroup v2 figures', () => {
    expect(
      budgetOf({memory_max: String(512 * MiB), cpu_quota_us: '150000', cpu_period_us: '100000', pids_max: 'max', cpu_usec: '1000000', oom_kills: '1'}),
    ).toEqual({
      memoryBytes: 512 * MiB,
      cpus: 1.5,
      pids: undefined,
      cpuset: undefined,
      pidsUsed: undefined,
      cpuSeconds: 1,
      oomKills: 1,
    })
  })
})
