/**
 * The bench's scenarios beyond the per-depth runs (as-users-wait.ts) and the physical limit
 * (physical-limit.ts): the naive save/load propagation, load at the bottom of a nest, host images
 * into a nest, a level's engine reached from this machine, and the deepest nest within a budget.
 * Each makes and removes its own nest; bench.ts runs them and prints the tables.
 */
import {execa} from 'execa'

import {boardStateFile} from '../nesting/contract.js'
import {Capture, type Engine} from '../nesting/engine.js'
import type {Nests} from '../nesting/nest.js'
import {pollUntil} from '../nesting/poll.js'
import {parseUpRequest} from '../nesting/request.js'
import {decidePrivilege, dockerRunFlags, hostSettingsFor} from '../nesting/privilege.js'
import {DEFAULT_IMAGE} from '../nesting/suites.js'
import {median, NEST, seconds} from './as-users-wait.js'

export const DEEPEST_BUDGET_S = 120
const DEEPEST_TRY = Number(process.env.BENCH_DEEPEST ?? 16)

/** The naive way: the full image saved and loaded into every level's engine, levels started by hand. */
export async function baselineRun(engine: Engine, depth: number): Promise<{depth: number; readyS: number}> {
  const host = hostSettingsFor(await decidePrivilege(engine, DEFAULT_IMAGE, 'auto'))
  const flags = dockerRunFlags(host)
  // Levels below the first are started by the level image's own dockerd (26 or later), which
  // grants only what its bounding set holds with ALL and refuses to drop what is missing.
  const innerFlags = flags.filter((flag, i) => flag !== '--cap-drop' && flags[i - 1] !== '--cap-drop')
  const run = (level: number) => [
    'run',
    '-d',
    '--name',
    `naive-l${level}`,
    ...(level === 1 ? flags : innerFlags),
    '-v',
    '/var/lib/docker',
    '-e',
    `INCEPTION_LEVEL=${level}`,
    '-e',
    `INCEPTION_DEPTH=${level}`,
    '-e',
    `INCEPTION_NEST=naive`,
    '-e',
    `INCEPTION_DOCKERD_OPTIONS=--bip=10.213.${level - 1}.1/24`,
    DEFAULT_IMAGE,
  ]
  const chain = (level: number) => Array.from({length: level - 1}, (_, i) => ['docker', 'exec', '-i', `naive-l${i + 2}`]).flat()
  const waitReady = async (level: number) => {
    const ready = async () =>
      String((await execa('docker', ['exec', 'naive-l1', ...chain(level), 'cat', boardStateFile(level)], {reject: false})).stdout).startsWith('ready')
        ? true
        : undefined
    await pollUntil(ready, {intervalMs: 100, timeoutMs: 60_000, onTimeout: () => new Error(`naive level ${level} never became ready`)})
  }
  await execa('docker', ['rm', '-f', '-v', 'naive-l1'], {reject: false})
  const started = Date.now()
  await execa('docker', run(1))
  await waitReady(1)
  for (let level = 2; level <= depth; level++) {
    // docker save on the host, docker load through the chain into level-1's engine... down to level-1.
    await execa('sh', ['-c', `docker save ${DEFAULT_IMAGE} | docker exec -i naive-l1 ${chain(level - 1).join(' ')} docker load -q`])
    await execa('docker', ['exec', 'naive-l1', ...chain(level - 1), 'docker', ...run(level)])
    await waitReady(level)
  }
  const readyMs = Date.now() - started
  await execa('docker', ['rm', '-f', '-v', 'naive-l1'], {reject: false})
  return {depth, readyS: seconds(readyMs)}
}

/** Load at the bottom of a depth-4 nest: 100 containers four at a time, and a 1 GB write. */
export async function loadAtTheBottom(nests: Nests): Promise<{runs100Parallel4S: number; runsFailed: number; write1GbS: number}> {
  await nests.down(NEST)
  await nests.up(parseUpRequest({name: NEST, depth: 4}))
  const run = async (script: string) => {
    const out = new Capture()
    const started = Date.now()
    await nests.exec(NEST, 4, ['sh', '-c', script], {stdout: out, stderr: new Capture()})
    return {seconds: seconds(Date.now() - started), out: out.text()}
  }
  const runs = await run('seq 100 | xargs -P 4 -I{} sh -c "docker run --rm busybox true || echo FAILED"')
  const write = await run('docker run --rm -v bench-data:/data busybox sh -c "dd if=/dev/zero of=/data/blob bs=1M count=1024 2>/dev/null && sync"')
  await nests.down(NEST)
  return {runs100Parallel4S: runs.seconds, runsFailed: runs.out.split('FAILED').length - 1, write1GbS: write.seconds}
}

const BIN = new URL('../../bin/run.js', import.meta.url).pathname
const LOAD_IMAGE = 'bench-load:120mb'

/** Runs the CLI as a user would (a new process); returns its wall-clock seconds. */
async function timedCli(args: string[], input?: string): Promise<number> {
  const started = Date.now()
  if (input === undefined) await execa('node', [BIN, ...args])
  else await execa('sh', ['-c', `${input} | node ${BIN} ${args.join(' ')}`])
  return seconds(Date.now() - started)
}

/**
 * Host images into a depth-4 nest: \`inception load\` into level 4 and into every level, against
 * the by-hand way (\`docker save | inception exec --level 4 -- docker load\`), and the one-hop
 * limit (\`docker save | docker exec -i\` into level 1's engine). The image: the level image's
 * busybox root plus 120 MB of random bytes (random, so nothing on the way can compress it).
 */
export async function loadImages(nests: Nests): Promise<Record<string, number>> {
  await execa('sh', [
    '-c',
    `docker run --rm --entrypoint cat ${DEFAULT_IMAGE} /usr/local/lib/inception/busybox-rootfs.tar | docker import - bench-load:base >/dev/null`,
  ])
  await execa('sh', ['-c', `printf 'FROM bench-load:base\\nRUN head -c 120000000 /dev/urandom > /blob\\n' | docker build -q -t ${LOAD_IMAGE} - >/dev/null`])
  const tarBytes = Number((await execa('sh', ['-c', `docker save ${LOAD_IMAGE} | wc -c`])).stdout.trim())
  const rate = (s: number) => Math.round(tarBytes / 1e6 / s)
  await nests.down(NEST)
  await nests.up(parseUpRequest({name: NEST, depth: 4}))
  const remove = async (levels: number[]) => {
    for (const level of levels) await nests.exec(NEST, level, ['docker', 'rmi', LOAD_IMAGE], {stdout: new Capture(), stderr: new Capture()})
  }
  const inceptionS = await timedCli(['load', LOAD_IMAGE, '--name', NEST, '--level', '4'])
  await remove([4])
  const byHandS = await timedCli(['exec', '--name', NEST, '--level', '4', '--', 'docker', 'load'], `docker save ${LOAD_IMAGE}`)
  await remove([4])
  const allLevelsS = await timedCli(['load', LOAD_IMAGE, '--name', NEST, '--all-levels'])
  await remove([1])
  const started = Date.now()
  await execa('sh', ['-c', `docker save ${LOAD_IMAGE} | docker exec -i ${NEST}-l1 docker load`])
  const oneHopS = seconds(Date.now() - started)
  await nests.down(NEST)
  await execa('docker', ['rmi', LOAD_IMAGE, 'bench-load:base'], {reject: false})
  return {
    imageMB: Math.round(tarBytes / 1e6),
    inceptionLevel4S: inceptionS,
    inceptionLevel4MBps: rate(inceptionS),
    byHandLevel4S: byHandS,
    byHandLevel4MBps: rate(byHandS),
    inceptionAllLevelsS: allLevelsS,
    inceptionAllLevelsMBps: rate(allLevelsS),
    oneHopLevel1S: oneHopS,
    oneHopLevel1MBps: rate(oneHopS),
  }
}

/**
 * Level 3's engine from this machine, five times each way, alternating: the stock docker CLI
 * through the level's socket, and `inception exec --level 3 -- docker version`.
 */
export async function levelThreeFromHere(nests: Nests): Promise<{socketS: number; execS: number}> {
  await nests.down(NEST)
  const status = await nests.up(parseUpRequest({name: NEST, depth: 3}))
  const socket = status.levels[2]?.endpoint
  if (!socket?.startsWith('unix://')) throw new Error(`level 3 of the bench nest has no socket (${socket ?? 'none'})`)
  const viaSocket: number[] = []
  const viaExec: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    await execa('docker', ['-H', socket, 'version'])
    viaSocket.push(performance.now() - started)
    viaExec.push(await timedCli(['exec', '--name', NEST, '--level', '3', '--', 'docker', 'version']))
  }
  await nests.down(NEST)
  // timedCli gives seconds already.
  return {socketS: seconds(median(viaSocket)), execS: Math.round(median(viaExec) * 100) / 100}
}

export async function deepest(nests: Nests): Promise<{tried: number; reached: number; seconds: number}> {
  await nests.down(NEST)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), DEEPEST_BUDGET_S * 1000)
  let reached = 0
  const started = Date.now()
  try {
    await nests.up(
      parseUpRequest({name: NEST, depth: DEEPEST_TRY, maxDepth: DEEPEST_TRY}),
      {
        levelState: (level, state) => {
          if (state === 'ready') reached = Math.max(reached, level)
        },
      },
      controller.signal,
    )
  } catch (error) {
    console.error(`deepest: ${(error as Error).message}`)
  } finally {
    clearTimeout(timer)
  }
  const elapsed = seconds(Date.now() - started)
  await nests.down(NEST)
  return {tried: DEEPEST_TRY, reached, seconds: elapsed}
}

/**
 * What budgets cost `up`: depth 4 without, and with budgets as large as the engine (every CPU,
 * 2G, 1024 tasks), so that what is measured is the mechanism (lxcfs, each level's OOM counter,
 * the cgroup limits), not the bound itself; alternating, `runs` of each.
 */
export async function budgetsCost(cpus: number, runs: number): Promise<{withoutS: number; withS: number; budgetArgs: string}> {
  const budgetArgs = ['--memory', '2g', '--pids', '1024', '--cpus', String(cpus)]
  const without: number[] = []
  const withBudgets: number[] = []
  for (let i = 0; i < runs; i++) {
    for (const [args, into] of [
      [[], without],
      [budgetArgs, withBudgets],
    ] as const) {
      await execa('node', [BIN, 'down', '--name', NEST], {reject: false})
      into.push(await timedCli(['up', '--name', NEST, '--depth', '4', ...args]))
      await timedCli(['down', '--name', NEST])
    }
  }
  // timedCli gives seconds here.
  return {withoutS: median(without), withS: median(withBudgets), budgetArgs: budgetArgs.join(' ')}
}
