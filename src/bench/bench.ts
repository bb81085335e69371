/**
 * `npm run bench`: measures, in one run on one engine, how fast nests come up and go, what they
 * cost in memory, and how the naive propagation (docker save | docker load at every level) does
 * with the same image, and the physical limit at each depth (physical-limit.ts). Prints tables and
 * writes the figures to bench-results.json. The scenarios besides the per-depth runs are in scenarios.ts.
 * The image must be built already (`inception build`); nothing here is a pass/fail test.
 */
import {writeFileSync} from 'node:fs'

import {connectEngine} from '../nesting/dockerode-engine.js'
import {Nests} from '../nesting/nest.js'
import {DEFAULT_IMAGE} from '../nesting/suites.js'
import {type DepthRun, depthRun, median, seconds} from './as-users-wait.js'
import {bareLevelMs, bareLevelsPerDepthMs, compareWithLimits, depthLimits, printLimits} from './physical-limit.js'
import {baselineRun, budgetsCost, deepest, DEEPEST_BUDGET_S, levelThreeFromHere, loadAtTheBottom, loadImages} from './scenarios.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const USER_DEPTHS = [1, 2, 3, 4, 8]

const mb = (bytes?: number) => (bytes === undefined ? undefined : Math.round(bytes / 2 ** 20))

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
  const budgets = await budgetsCost(info.cpus, RUNS)
  console.log(`up --depth 4: ${budgets.withoutS}s without budgets, ${budgets.withS}s with ${budgets.budgetArgs} (medians of ${RUNS}, alternating)`)
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
    budgetsCost: budgets,
  }
  writeFileSync('bench-results.json', `${JSON.stringify(results, null, 2)}\n`)
  console.log('figures written to bench-results.json')
}

await main()
