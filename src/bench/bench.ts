/**
 * `npm run bench`: measures, in one run on one engine, how fast nests come up and go, what they
 * cost in memory, and how the naive propagation (docker save | docker load at every level) does
 * with the same image, and the physical limit at each depth (physical-limit.ts). Prints tables and
 * writes the figures to bench-results.json.
 * The image must be built already (`inception build`); nothing here is a pass/fail test.
 */
import {execa} from 'execa'
import {writeFileSync} from 'node:fs'

import {boardStateFile} from '../nesting/contract.js'
import {connectEngine} from '../nesting/dockerode-engine.js'
import {Capture, type Engine} from '../nesting/engine.js'
import {Nests} from '../nesting/nest.js'
import {pollUntil} from '../nesting/poll.js'
import {parseUpRequest} from '../nesting/request.js'
import {decidePrivilege, dockerRunFlags, hostSettingsFor} from '../nesting/privilege.js'
import {DEFAULT_IMAGE} from '../nesting/suites.js'
import {type DepthRun, depthRun, median, NEST, seconds} from './as-users-wait.js'
import {bareLevelMs, bareLevelsPerDepthMs, compareWithLimits, depthLimits, printLimits} from './physical-limit.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const USER_DEPTHS = [1, 2, 3, 4, 8]
const DEEPEST_BUDGET_S = 120
const DEEPEST_TRY = Number(process.env.BENCH_DEEPEST ?? 16)

const mb = (bytes?: number) => (bytes === undefined ? undefined : Math.round(bytes / 2 ** 20))

/** The naive way: the full image saved and loaded into every level's engine, levels started by hand. */
async function baselineRun(engine: Engine, depth: number): Promise<{depth: number; readyS: number}> {
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
async function loadAtTheBottom(nests: Nests): Promise<{runs100Parallel4S: number; runsFailed: number; write1GbS: number}> {
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
async function loadImages(nests: Nests): Promise<Record<string, number>> {
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
async function levelThreeFromHere(nests: Nests): Promise<{socketS: number; execS: number}> {
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

async function deepest(nests: Nests): Promise<{tried: number; reached: number; seconds: number}> {
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

async function main(): Promise<void> {
  const engine = await connectEngine()
  if (!(await engine.imageExists(DEFAULT_IMAGE))) throw new Error(`${DEFAULT_IMAGE} is missing: run inception build first`)
  const nests = new Nests(engine)
  const info = await engine.info()
  console.log(`engine ${info.serverVersion}, ${info.cpus} cpus, ${mb(info.memTotalBytes)} MB; image ${DEFAULT_IMAGE}`)

  // What users wait for, beside the bare-level limit measured in the same run (medians of RUNS).
  const bare: number[] = []
  for (let i = 0; i < RUNS; i++) bare.push(await bareLevelMs(engine))
  const limitS = seconds(median(bare))
  console.log(`bare-level limit: ${limitS}s (runs: ${bare.map(seconds).join(', ')})`)
  // Rounds, each with one nest of every depth and one bare level at every depth up to the
  // deepest (inside a limit nest made and removed within the round): a slower moment of the
  // machine, which can last minutes here, then touches both sides of every ratio alike.
  const maxDepth = Math.max(...USER_DEPTHS)
  const runsByDepth = new Map<number, DepthRun[]>(USER_DEPTHS.map((depth) => [depth, []]))
  const bareByDepth = new Map<number, number[]>()
  let limitFailure: string | undefined
  for (let round = 0; round < RUNS; round++) {
    for (const depth of USER_DEPTHS) runsByDepth.get(depth)!.push(await depthRun(depth))
    if (limitFailure) continue
    // A failure here costs its own figures only (its nest is removed either way): the bench goes on.
    try {
      for (const [depth, ms] of await bareLevelsPerDepthMs(engine, nests, maxDepth, 1)) bareByDepth.set(depth, [...(bareByDepth.get(depth) ?? []), ...ms])
    } catch (error) {
      limitFailure = (error as Error).message
      console.error(`physical limit per depth: ${limitFailure}`)
    }
  }
  const inception: Array<{depth: number; upS: number; chainS: number; execS: number; downS: number; levelOneMemoryMB?: number; chainRatio: number}> = []
  for (const depth of USER_DEPTHS) {
    const runs = runsByDepth.get(depth)!
    const memory = runs.map((r) => r.levelOneMemoryMB).filter((m): m is number => m !== undefined)
    const row = {
      depth,
      upS: seconds(median(runs.map((r) => r.upMs))),
      chainS: seconds(median(runs.map((r) => r.chainMs))),
      execS: seconds(median(runs.map((r) => r.execMs))),
      downS: seconds(median(runs.map((r) => r.downMs))),
      levelOneMemoryMB: memory.length > 0 ? median(memory) : undefined,
      chainRatio: 0,
    }
    row.chainRatio = Math.round((row.chainS / (depth * limitS)) * 100) / 100
    inception.push(row)
    console.log(`depth ${depth}: up ${row.upS}s, chain answering ${row.chainS}s (${row.chainRatio} x ${depth} x limit), exec ${row.execS}s, down ${row.downS}s`)
  }
  const limits = limitFailure ? [] : compareWithLimits(depthLimits(bareByDepth), inception)
  for (const l of limits) console.log(`bare level at depth ${l.depth}: ${l.bareS}s (runs: ${l.runsS.join(', ')}), depths 1-${l.depth} add up to ${l.sumS}s`)
  const baseline: Array<Awaited<ReturnType<typeof baselineRun>>> = []
  for (const depth of [1, 2, 3]) {
    const result = await baselineRun(engine, depth)
    baseline.push(result)
    console.log(`save/load baseline depth ${depth}: ready ${result.readyS}s`)
  }
  const load = await loadAtTheBottom(nests)
  console.log(`level 4: 100 docker run --rm, 4 at a time: ${load.runs100Parallel4S}s (${load.runsFailed} failed); 1 GB write: ${load.write1GbS}s`)
  const images = await loadImages(nests)
  console.log(
    `inception load of a ${images.imageMB} MB image: level 4 ${images.inceptionLevel4S}s (${images.inceptionLevel4MBps} MB/s), ` +
      `every level ${images.inceptionAllLevelsS}s; by hand into level 4 ${images.byHandLevel4S}s (${images.byHandLevel4MBps} MB/s); ` +
      `one hop into level 1 ${images.oneHopLevel1S}s (${images.oneHopLevel1MBps} MB/s)`,
  )
  const fromHere = await levelThreeFromHere(nests)
  console.log(`level 3's engine from this machine: docker -H its socket version ${fromHere.socketS}s, inception exec -- docker version ${fromHere.execS}s`)
  const deep = await deepest(nests)
  console.log(`deepest: reached ${deep.reached} of ${deep.tried} in ${deep.seconds}s`)

  const depth3 = inception.find((r) => r.depth === 3)!
  const base3 = baseline.find((r) => r.depth === 3)!
  const depth1 = inception.find((r) => r.depth === 1)!
  const depth4 = inception.find((r) => r.depth === 4)!
  const memoryGrowth = inception.slice(1, 4).map((r, i) => (r.levelOneMemoryMB ?? 0) - (inception[i]!.levelOneMemoryMB ?? 0))
  console.log('')
  console.log(`From the CLI, medians of ${RUNS}; bare-level limit ${limitS}s.`)
  console.log('')
  console.log('| depth | up (s) | up + chain answering (s) | N x limit (s) | ratio | exec --level N -- true (s) | down (s) | save/load (s) | level 1 MB |')
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of inception) {
    const b = baseline.find((x) => x.depth === r.depth)
    const limit = Math.round(r.depth * limitS * 100) / 100
    const memory = r.levelOneMemoryMB ?? '-'
    console.log(`| ${r.depth} | ${r.upS} | ${r.chainS} | ${limit} | ${r.chainRatio} | ${r.execS} | ${r.downS} | ${b?.readyS ?? '-'} | ${memory} |`)
  }
  console.log('')
  const overLimit = seconds((depth1.upS - limitS) * 1000)
  console.log(`targets: depth 4 + chain ${depth4.chainRatio} x (4 x limit) (at most 1.3); depth 1 up - limit ${overLimit}s (at most 0.4);`)
  console.log(`         exec --level 4 -- true ${depth4.execS}s (at most 0.5); down of depth 4 ${depth4.downS}s (at most 1.0)`)
  console.log(`speed-up at depth 3 over save/load: ${(base3.readyS / depth3.upS).toFixed(1)}x`)
  console.log(`memory added to level 1 by each level beyond the first: ${memoryGrowth.join(', ')} MB`)
  console.log(`deepest depth reached within ${DEEPEST_BUDGET_S}s: ${deep.reached} (asked for ${deep.tried}, took ${deep.seconds}s)`)
  printLimits(limits, RUNS)
  console.log('')
  console.log(`| ${images.imageMB} MB image | seconds | MB/s |`)
  console.log('| --- | ---: | ---: |')
  console.log(`| \`inception load\` into level 4 | ${images.inceptionLevel4S} | ${images.inceptionLevel4MBps} |`)
  console.log(`| \`inception load --all-levels\` (4 levels) | ${images.inceptionAllLevelsS} | ${images.inceptionAllLevelsMBps} |`)
  console.log(`| \`docker save | inception exec --level 4 -- docker load\` | ${images.byHandLevel4S} | ${images.byHandLevel4MBps} |`)
  console.log(`| \`docker save | docker exec -i\` into level 1 (one hop, no CLI) | ${images.oneHopLevel1S} | ${images.oneHopLevel1MBps} |`)
  console.log(`load at level 4: 100 containers 4 at a time in ${load.runs100Parallel4S}s (${load.runsFailed} failed), 1 GB written in ${load.write1GbS}s`)
  const results = {
    when: new Date().toISOString(),
    engine: info,
    inception,
    baseline,
    runs: RUNS,
    bareLevelLimitS: limitS,
    bareLevelRunsS: bare.map(seconds),
    physicalLimitPerDepth: limits,
    speedupDepth3: base3.readyS / depth3.upS,
    memoryGrowthMB: memoryGrowth,
    deepest: deep,
    loadAtLevel4: load,
    loadImages: images,
    levelThreeFromHere: fromHere,
  }
  writeFileSync('bench-results.json', `${JSON.stringify(results, null, 2)}\n`)
  console.log('figures written to bench-results.json')
}

await main()
