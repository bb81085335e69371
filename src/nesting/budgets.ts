import {createHash} from 'node:crypto'

import {LXCFS_DIR, LXCFS_PROC_FILES} from './contract.js'
import {BudgetUnenforceable, UsageError} from './errors.js'
import type {EngineInfo} from './engine.js'
import {type LevelPart, setting} from './setting.js'
import {formatSize, parseSize} from './storage.js'

/**
 * Resource budgets: memory, CPUs and processes, for the nest (level 1's container) and for each
 * level inside it. `--memory 1g` bounds the nest; `--memory 512m@3` bounds level 3 (the `@LEVEL`
 * of `-p`, rather than a flag per level kind: one flag per resource, read the same way). A level
 * given nothing gets its parent's budget less what the parent's own engine needs, so that a
 * level's containers can never take the memory or the process slots its engine runs on.
 * Each level's engine applies its child's budget: the kernel enforces every level, nested.
 */

export type Resource = 'memory' | 'cpus' | 'pids'

/** One value of --memory, --cpus or --pids: the nest's budget, or with @LEVEL one level's. */
export interface BudgetGiven {
  amount: number
  level?: number
}

export type BudgetInput = Partial<Record<Resource, BudgetGiven[]>>

/** What one level's container is bounded to; each left out is unbounded (within its parent). */
export interface LevelBudget {
  memoryBytes?: number
  cpus?: number
  /** The CPUs a level with a CPU budget runs on, so that nproc and `docker info` count its budget (prepare sets them). */
  cpuset?: string
  pids?: number
}

/**
 * What a level's own engine (its init, containerd, dockerd, and the shim of each container it
 * runs) takes, kept from its budget for it. Measured at level 3 of a nest (Docker 26): memory
 * 37-42 MB at rest, 89-104 MB at its peak while it started containers; 21-24 tasks at rest, 37
 * with one container running (its shim's threads).
 */
export const ENGINE_NEED: Record<Resource, number> = {memory: 128 * 2 ** 20, cpus: 0, pids: 64}

const FLAG: Record<Resource, string> = {memory: '--memory', cpus: '--cpus', pids: '--pids'}
const KEY = {memory: 'memoryBytes', cpus: 'cpus', pids: 'pids'} as const satisfies Record<Resource, keyof LevelBudget>

/** An amount as its flag shows it. */
export function formatAmount(resource: Resource, amount: number): string {
  if (resource === 'memory') return amount % 1024 === 0 ? formatSize(amount) : `${amount}B`
  return String(amount)
}

/** AMOUNT[@LEVEL] of one resource, on its own (whether it fits is checked with the rest: splitBudgets). */
export function parseBudget(resource: Resource, text: string): BudgetGiven {
  const flag = FLAG[resource]
  const at = text.lastIndexOf('@')
  const amountText = (at === -1 ? text : text.slice(0, at)).trim()
  const levelText = at === -1 ? undefined : text.slice(at + 1).trim()
  let level: number | undefined
  if (levelText !== undefined) {
    if (!/^\d+$/.test(levelText) || Number(levelText) < 1) {
      throw new UsageError(
        `${flag} ${text}: "${levelText}" is not a level`,
        `write AMOUNT@LEVEL with levels from 1 (the outermost), e.g. ${flag} ${example(resource)}@2`,
      )
    }
    level = Number(levelText)
  }
  return {amount: parseAmount(resource, amountText, text), ...(level === undefined ? {} : {level})}
}

function example(resource: Resource): string {
  return {memory: '1g', cpus: '1.5', pids: '512'}[resource]
}

function parseAmount(resource: Resource, text: string, given: string): number {
  const flag = FLAG[resource]
  switch (resource) {
    case 'memory': {
      try {
        return parseSize(text)
      } catch {
        throw new UsageError(`${flag} ${given} is not a size`, 'write a size like 512m, 1g or 2G')
      }
    }
    case 'cpus': {
      if (!/^\d+(\.\d{1,2})?$/.test(text))
        throw new UsageError(`${flag} ${given} is not a number of CPUs`, 'give CPUs as a number, e.g. --cpus 1 or --cpus 1.5')
      const cpus = Number(text)
      if (cpus <= 0) throw new UsageError(`${flag} ${given} gives no CPU time at all`, 'give more than 0, e.g. --cpus 0.5')
      return cpus
    }
    case 'pids': {
      if (!/^\d+$/.test(text)) throw new UsageError(`${flag} ${given} is not a whole number of processes`, 'give a number of processes, e.g. --pids 512')
      return Number(text)
    }
  }
}

/**
 * Every level's budget, from what was given (checked against each other, before any engine is
 * asked): a level's budget is what it was given, else its parent's less the parent's engine's
 * need; each must hold its own engine, and no level is given more than its parent leaves it.
 */
export function splitBudgets(input: BudgetInput, depth: number): LevelBudget[] {
  const levels: LevelBudget[] = Array.from({length: depth}, () => ({}))
  for (const resource of Object.keys(FLAG) as Resource[]) {
    const given = byLevel(resource, input[resource] ?? [], depth)
    const need = ENGINE_NEED[resource]
    let parent: number | undefined
    for (let level = 1; level <= depth; level++) {
      const explicit = given.get(level)
      const fromParent = parent === undefined ? undefined : parent - need
      if (explicit !== undefined && fromParent !== undefined && explicit > fromParent) {
        const show = (amount: number) => formatAmount(resource, amount)
        throw new UsageError(
          `${FLAG[resource]} ${show(explicit)}@${level} is more than level ${level - 1} can give it` +
            (need > 0 ? ` (its ${show(parent!)} less its engine's ${show(need)}: ${show(fromParent)})` : ` (its ${show(parent!)})`),
          `give level ${level} at most ${show(fromParent)}, or raise level ${level - 1}'s`,
        )
      }
      const amount = explicit ?? fromParent
      if (amount !== undefined) checkHoldsEngine(resource, amount, level, explicit !== undefined, given, depth)
      if (amount !== undefined) levels[level - 1]![KEY[resource]] = amount
      parent = amount
    }
  }
  return levels
}

/** Each level's engine needs its share; a budget that cannot hold it would fail the level later, with less to say. */
function checkHoldsEngine(resource: Resource, amount: number, level: number, explicit: boolean, given: Map<number, number>, depth: number): void {
  const need = ENGINE_NEED[resource]
  if (amount >= need) return
  const show = (value: number) => formatAmount(resource, value)
  // The budget the user gave that this level's is taken from: the nearest level above with one.
  let from = level
  while (!given.has(from)) from--
  // What `from`'s budget must be for every level it feeds to keep its engine's share: down to the
  // next level given its own (which must still get all of it), or to the innermost.
  let next = from + 1
  while (next <= depth && !given.has(next)) next++
  const least = next <= depth ? need * (next - from) + given.get(next)! : need * (depth - from + 1)
  const wording = explicit
    ? `${FLAG[resource]} ${show(amount)}${level > 1 ? `@${level}` : ''} is`
    : `${FLAG[resource]} ${show(given.get(from)!)}${from > 1 ? `@${from}` : ''} leaves level ${level} ${show(amount)},`
  throw new UsageError(
    `${wording} less than a level's engine needs (${show(need)})`,
    `give ${FLAG[resource]} at least ${show(least)}${from > 1 ? `@${from}` : ''} (each level's engine keeps ${show(need)} of its budget)`,
  )
}

function byLevel(resource: Resource, given: BudgetGiven[], depth: number): Map<number, number> {
  const levels = new Map<number, number>()
  for (const {amount, level = 1} of given) {
    const written = `${FLAG[resource]} ${formatAmount(resource, amount)}${level > 1 ? `@${level}` : ''}`
    if (level > depth)
      throw new UsageError(`${written}: the nest has ${depth} level${depth > 1 ? 's' : ''}`, `give a level from 1 to ${depth}, or a larger --depth`)
    if (levels.has(level)) throw new UsageError(`${FLAG[resource]} is given twice for level ${level}`, `give one ${FLAG[resource]} per level`)
    levels.set(level, amount)
  }
  return levels
}

/** Whether any level of the nest has a budget. */
export function hasBudgets(budgets: readonly LevelBudget[]): boolean {
  return budgets.some((budget) => budget.memoryBytes !== undefined || budget.cpus !== undefined || budget.pids !== undefined)
}

/**
 * The budgets against the engine that will enforce level 1's (and, through the levels, every
 * other's): it must have the cgroup controller (an engine without it would accept the limit and
 * drop it with a warning), and no level can have more than the engine has. Then each level with
 * a CPU budget gets its CPUs: as many as its budget rounded up, the first of its parent's, and for
 * level 1 from a place that depends on the nest's name, so that several nests spread over the CPUs.
 */
export function fitBudgetsToEngine(budgets: LevelBudget[], info: Pick<EngineInfo, 'memTotalBytes' | 'cpus' | 'limits'>, nestName: string): LevelBudget[] {
  const used = (resource: Resource) => budgets.some((budget) => budget[KEY[resource]] !== undefined)
  const controllers: Record<Resource, boolean> = {memory: info.limits.memory, cpus: info.limits.cpuQuota && info.limits.cpuset, pids: info.limits.pids}
  for (const resource of Object.keys(FLAG) as Resource[]) {
    if (used(resource) && !controllers[resource]) throw new BudgetUnenforceable(FLAG[resource])
  }
  // The first level given each is the one the rest are within: it must fit the engine.
  const at = (index: number) => (index > 0 ? `@${index + 1}` : '')
  const memoryLevel = budgets.findIndex((budget) => budget.memoryBytes !== undefined)
  const memory = budgets[memoryLevel]?.memoryBytes
  if (memory !== undefined && info.memTotalBytes > 0 && memory > info.memTotalBytes) {
    throw new UsageError(
      `--memory ${formatAmount('memory', memory)}${at(memoryLevel)} is more than the engine has (${Math.floor(info.memTotalBytes / 2 ** 20)}M)`,
      'give less, or leave --memory out',
    )
  }
  const cpusLevel = budgets.findIndex((budget) => budget.cpus !== undefined)
  const cpus = budgets[cpusLevel]?.cpus
  if (cpus !== undefined && info.cpus > 0 && cpus > info.cpus) {
    throw new UsageError(`--cpus ${cpus}${at(cpusLevel)} is more than the engine's ${info.cpus} CPUs`, `give ${info.cpus} or less`)
  }
  if (!used('cpus') || info.cpus <= 0) return budgets
  const start = createHash('sha256').update(nestName).digest().readUInt32BE(0) % info.cpus
  let parentCpus = Array.from({length: info.cpus}, (_, i) => (start + i) % info.cpus)
  return budgets.map((budget) => {
    if (budget.cpus === undefined) return budget
    const mine = parentCpus.slice(0, Math.ceil(budget.cpus))
    parentCpus = mine
    return {...budget, cpuset: [...mine].sort((a, b) => a - b).join(',')}
  })
}

// The budgets (budgets.ts): each flag gives the nest's (level 1's) or, with @LEVEL, one level's;
// `of` reads every level's, as splitBudgets made them and prepare gave them their CPUs.
const budgetOf = (budgets: LevelBudget[], level: number): LevelBudget => budgets[level - 1] ?? {}

export const MEMORY = setting<LevelBudget[], BudgetGiven>({
  flag: 'memory',
  helpValue: 'SIZE[@LEVEL]',
  multiple: true,
  default: [],
  description: `memory for the nest, or for LEVEL; a level given none gets its parent's less its engine's ${formatAmount('memory', ENGINE_NEED.memory)}`,
  parse: (text) => parseBudget('memory', text),
  of: (request) => request.budgets,
  // The level's OOM kills are counted where its budget is (cgroup v1 counts them at the victim's own cgroup, gone with it).
  level: (budgets, {level}) => {
    const memoryBytes = budgetOf(budgets, level).memoryBytes
    return {resources: {memoryBytes}, env: {INCEPTION_OOM_COUNT: memoryBytes === undefined ? '' : '1'}}
  },
})

export const CPUS = setting<LevelBudget[], BudgetGiven>({
  flag: 'cpus',
  helpValue: 'N[@LEVEL]',
  multiple: true,
  default: [],
  description: "CPUs for the nest, or for LEVEL (fractions too); a level given none gets its parent's; repeatable",
  parse: (text) => parseBudget('cpus', text),
  of: (request) => request.budgets,
  level: (budgets, {level}) => {
    const {cpus, cpuset} = budgetOf(budgets, level)
    return {resources: {cpus, cpuset}}
  },
})

export const PIDS = setting<LevelBudget[], BudgetGiven>({
  flag: 'pids',
  helpValue: 'N[@LEVEL]',
  multiple: true,
  default: [],
  description: `tasks for the nest, or for LEVEL; a level given none gets its parent's less its engine's ${ENGINE_NEED.pids}; repeatable`,
  parse: (text) => parseBudget('pids', text),
  of: (request) => request.budgets,
  level: (budgets, {level}) => ({resources: {pids: budgetOf(budgets, level).pids}}),
})

/**
 * What a nest with budgets shows each level of itself: level 1 runs lxcfs (it needs the host's
 * /dev/fuse) and mounts its files over its own /proc; each level below gets the folder and the
 * files from its parent. Not a setting of its own: it follows from the budgets.
 */
export function procView(budgets: LevelBudget[], level: number): LevelPart {
  if (!hasBudgets(budgets)) return {}
  if (level === 1) return {env: {INCEPTION_PROC_VIEW: 'serve'}, resources: {devices: ['/dev/fuse']}}
  return {env: {INCEPTION_PROC_VIEW: ''}, binds: [`${LXCFS_DIR}:${LXCFS_DIR}`, ...LXCFS_PROC_FILES.map((file) => `${LXCFS_DIR}/proc/${file}:/proc/${file}`)]}
}

/**
 * lxcfs, which shows every level its budget, needs the host's /dev/fuse (level 1 gets the device).
 * Checked here on this machine's engine; a remote engine without it refuses level 1 in its words.
 */
export function checkFuse(budgets: readonly LevelBudget[], fuseExists: () => boolean): void {
  if (hasBudgets(budgets) && !fuseExists()) {
    throw new UsageError(
      'budgets need /dev/fuse on this machine (lxcfs shows each level its budget through it), and there is none',
      'load the fuse module (modprobe fuse), or leave --memory, --cpus and --pids out',
    )
  }
}
