/**
 * The physical limit of a nest, per depth: a bare level (bare-level.sh: cgroups made writable,
 * containerd, then dockerd, nothing else) started by the engine at each depth, timed from
 * `docker run` until its engine answers. At depth 1 it is started by this machine's engine; at
 * depth K, inside level K-1 of a nest, by that level's engine, with the privilege and the
 * read-only /usr that the nest's own levels get, and timed there (time-bare-level.sh), so the
 * execs that reach the level are not counted. A nest of depth N can be no faster than the sum of
 * its depths' figures: each level's engine must answer before it can start the next.
 */
import {execa} from 'execa'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {IMAGE_LIB_DIR} from '../nesting/contract.js'
import {Capture, type Engine} from '../nesting/engine.js'
import type {Nests} from '../nesting/nest.js'
import {decidePrivilege, dockerRunFlags, hostSettingsFor} from '../nesting/privilege.js'
import {parseUpRequest} from '../nesting/request.js'
import {DEFAULT_IMAGE} from '../nesting/suites.js'
import {median, seconds, untilAnswering} from './as-users-wait.js'

// Shell files beside this module's source (dist/bench/ -> src/bench/), linted by shellcheck.
const script = (file: string) => readFileSync(new URL(`../../src/bench/${file}`, import.meta.url), 'utf8')
// The image's folder of the init, ahead of the script: it runs the init's cgroup step from there.
const BARE_LEVEL_SCRIPT = `lib=${IMAGE_LIB_DIR}\n${script('bare-level.sh')}`
const TIMER_SCRIPT = script('time-bare-level.sh')

/** The nest whose levels start the bare levels of depths 2 and deeper. */
const LIMIT_NEST = 'bench-limit'
/** Inside the levels, the level image's root file system (all but /usr), which every level carries in its /usr. */
const LEVEL_ROOTFS_TAR = `${IMAGE_LIB_DIR}/level-rootfs.tar`
const BARE_IMAGE = 'inception-bare:bench'
/** As the init starts a level below the first: the parent's /usr read-only, and a data root apart from the container's own file system. */
const INNER_FLAGS = ['--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '-v', '/usr:/usr:ro', '-v', '/var/lib/docker']

const logTail = (dir: string) => {
  try {
    return readFileSync(join(dir, 'bare.log'), 'utf8').trim().split('\n').slice(-5).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Level 1's privileges on this engine, decided once: each decision runs probe containers. */
let hostFlags: Promise<string[]> | undefined

/**
 * A bare level on this machine's engine (depth 1): the level image with level 1's privileges,
 * timed until its engine answers /_ping on a socket in a folder bind-mounted from here.
 */
export async function bareLevelMs(engine: Engine): Promise<number> {
  hostFlags ??= decidePrivilege(engine, DEFAULT_IMAGE, 'auto').then((decision) => dockerRunFlags(hostSettingsFor(decision)))
  const flags = await hostFlags
  const dir = mkdtempSync(join(tmpdir(), 'inception-bare-'))
  const name = `inception-bare-${process.pid}`
  try {
    const started = performance.now()
    const bare = ['--entrypoint', 'sh', DEFAULT_IMAGE, '-c', BARE_LEVEL_SCRIPT, 'bare-level', '/bare']
    await execa('docker', ['run', '-d', '--name', name, ...flags, '-v', `${dir}:/bare`, ...bare])
    await untilAnswering({socketPath: join(dir, 'docker.sock'), path: '/_ping'}, 'the bare level').catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; its log ends:\n${logTail(dir)}`)
    })
    return performance.now() - started
  } finally {
    await execa('docker', ['rm', '-f', '-v', name], {reject: false})
    rmSync(dir, {recursive: true, force: true})
  }
}

/**
 * The `docker run` flags of a bare level inside a level whose children get PRIVILEGE, as the
 * init gives them to the next level (with --cgroupns private). caps drops nothing: the level's
 * dockerd (26 or later) grants only what its bounding set holds with ALL.
 */
function innerFlags(privilege: string): string[] {
  const reason = 'as the nest grants its levels'
  if (privilege === 'privileged') return dockerRunFlags(hostSettingsFor({mode: 'privileged', reason}))
  if (privilege === 'caps') return dockerRunFlags(hostSettingsFor({mode: 'caps', capDrop: [], reason}))
  throw new Error(`the nest's levels run with privilege '${privilege}'; a bare level knows privileged and caps only`)
}

/** Runs a shell script at a level of the limit nest; its output, or an error with what it printed. */
async function atLevel(nests: Nests, level: number, cmd: string[], what: string): Promise<string> {
  const out = new Capture()
  const err = new Capture()
  const code = await nests.exec(LIMIT_NEST, level, cmd, {stdout: out, stderr: err, timeoutMs: 120_000})
  if (code !== 0) throw new Error(`${what} at level ${level} failed (${code}): ${err.text().trim()}`)
  return out.text().trim()
}

/**
 * The bare level at depths 1..maxDepth, RUNS times each: on this machine's engine (depth 1), then
 * inside each level of one nest of depth maxDepth-1 in turn; one round over every depth, then the
 * next round, so that a slower moment of the machine touches every depth alike. The nest is
 * removed however this ends. Returns each depth's runs in milliseconds.
 */
export async function bareLevelsPerDepthMs(engine: Engine, nests: Nests, maxDepth: number, runs: number): Promise<Map<number, number[]>> {
  const byDepth = new Map<number, number[]>()
  const add = (depth: number, ms: number) => byDepth.set(depth, [...(byDepth.get(depth) ?? []), ms])
  await nests.down(LIMIT_NEST)
  try {
    const nest = maxDepth < 2 ? [] : (await nests.up(parseUpRequest({name: LIMIT_NEST, depth: maxDepth - 1, maxDepth: Math.max(16, maxDepth - 1)}))).levels
    // Each level's bare level gets what that level gives its children: the next level's privilege, or its own at the bottom.
    const levels = nest.map((status, i) => ({level: status.level, flags: [...innerFlags((nest[i + 1] ?? status).privilege), ...INNER_FLAGS]}))
    for (const {level} of levels) {
      // Imported once a level, before any timing: the images the init seeded carry names that are its own business.
      const importImage = `docker image inspect ${BARE_IMAGE} >/dev/null 2>&1 || docker import ${LEVEL_ROOTFS_TAR} ${BARE_IMAGE} >/dev/null`
      await atLevel(nests, level, ['sh', '-c', importImage], 'importing the bare level image')
    }
    for (let run = 0; run < runs; run++) {
      add(1, await bareLevelMs(engine))
      for (const {level, flags} of levels) {
        const cmd = ['sh', '-c', TIMER_SCRIPT, 'time-bare-level', BARE_LEVEL_SCRIPT, `inception-bare-${run}`, BARE_IMAGE, ...flags]
        const ms = await atLevel(nests, level, cmd, 'a bare level')
        if (!/^\d+$/.test(ms)) throw new Error(`a bare level at level ${level} printed no time: ${ms}`)
        add(level + 1, Number(ms))
      }
    }
    return byDepth
  } finally {
    await nests.down(LIMIT_NEST)
  }
}

export interface DepthLimit {
  depth: number
  /** Median of the bare level's runs at this depth. */
  bareS: number
  runsS: number[]
  /** The bare levels of depths 1..depth, added up: what a nest of this depth cannot beat. */
  sumS: number
}

/** Each depth's median and the running sum, from each depth's runs (depth 1: this machine's engine). */
export function depthLimits(runsByDepth: Map<number, number[]>): DepthLimit[] {
  const limits: DepthLimit[] = []
  let sumMs = 0
  for (const depth of [...runsByDepth.keys()].sort((a, b) => a - b)) {
    const runs = runsByDepth.get(depth)!
    sumMs += median(runs)
    limits.push({depth, bareS: seconds(median(runs)), runsS: runs.map(seconds), sumS: seconds(sumMs)})
  }
  return limits
}

/** What a nest of depth N with its chain took, against the sum of the bare levels of depths 1..N. */
export interface LimitComparison extends DepthLimit {
  upS?: number
  chainS?: number
  /** up + chain answering, divided by the sum. */
  ratio?: number
}

export function compareWithLimits(limits: DepthLimit[], nests: Array<{depth: number; upS: number; chainS: number}>): LimitComparison[] {
  return limits.map((limit) => {
    const nest = nests.find((n) => n.depth === limit.depth)
    if (!nest) return limit
    return {...limit, upS: nest.upS, chainS: nest.chainS, ratio: Math.round((nest.chainS / limit.sumS) * 100) / 100}
  })
}

export const TARGET_DEPTH = 4
export const TARGET_RATIO = 1.5

/** The per-depth table, in the bench's table format, and the target line. */
export function printLimits(rows: LimitComparison[], runs: number): void {
  console.log('')
  console.log(`The physical limit per depth: a bare level started at each depth (depth K inside level K-1 of a nest), medians of ${runs}.`)
  console.log('')
  console.log('| depth | bare level at this depth (s) | sum of depths 1..N (s) | up (s) | up + chain answering (s) | ratio to the sum |')
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.depth} | ${r.bareS} | ${r.sumS} | ${r.upS ?? '-'} | ${r.chainS ?? '-'} | ${r.ratio ?? '-'} |`)
  const target = rows.find((r) => r.depth === TARGET_DEPTH)
  const sum = `sum of bare levels at depths 1-${TARGET_DEPTH}, ${target?.sumS ?? '-'}s`
  console.log('')
  console.log(`target: depth ${TARGET_DEPTH} + chain ${target?.ratio ?? '-'} x (${sum}) (at most ${TARGET_RATIO})`)
}
