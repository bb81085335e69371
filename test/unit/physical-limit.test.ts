import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {compareWithLimits, depthLimits} from '../../src/bench/physical-limit.js'

describe('the physical limit per depth', () => {
  it("adds up each depth's median, deepest last, whatever order the depths were measured in", () => {
    const runs = new Map([
      [3, [1700, 1600, 1650]],
      [1, [2000, 1800, 2100]],
      [2, [1500, 1700]],
    ])
    expect(depthLimits(runs)).toEqual([
      {depth: 1, bareS: 2, runsS: [2, 1.8, 2.1], sumS: 2},
      {depth: 2, bareS: 1.6, runsS: [1.5, 1.7], sumS: 3.6},
      {depth: 3, bareS: 1.65, runsS: [1.7, 1.6, 1.65], sumS: 5.25},
    ])
  })

  it("sets each nest's up + chain against the sum of its depths, and leaves depths without a nest bare", () => {
    const limits = depthLimits(
      new Map([
        [1, [2000]],
        [2, [1600]],
      ]),
    )
    expect(compareWithLimits(limits, [{depth: 2, upS: 4.1, chainS: 5.4}])).toEqual([
      {depth: 1, bareS: 2, runsS: [2], sumS: 2},
      {depth: 2, bareS: 1.6, runsS: [1.6], sumS: 3.6, upS: 4.1, chainS: 5.4, ratio: 1.5},
    ])
  })

  it("starts a bare level with nothing of the init's but its cgroup step: no INCEPTION_ variable, no other init file", () => {
    const code = (file: string) => readFileSync(new URL(`../../src/bench/${file}`, import.meta.url), 'utf8').replace(/^\s*#.*$/gm, '')
    for (const file of ['bare-level.sh', 'time-bare-level.sh']) expect(code(file)).not.toMatch(/INCEPTION_|inception-init/)
    expect(code('time-bare-level.sh')).not.toMatch(/^\s*\.\s/m)
    expect([...code('bare-level.sh').matchAll(/^\s*\.\s+(.*)$/gm)].map((m) => m[1])).toEqual(['"${lib:?set by the bench}/init/cgroups.sh"'])
  })
})
