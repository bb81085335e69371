import {execa} from 'execa'
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {compareWithLimits, depthLimits} from '../../src/bench/physical-limit.js'

const benchScript = (file: string) => readFileSync(new URL(`../../src/bench/${file}`, import.meta.url), 'utf8')

/**
 * A fake docker CLI in DIR/bin: `run` logs its arguments and starts a fake engine that listens on
 * the socket in the folder mounted at /bare after 1 s and answers /_ping; `rm` logs and stops it.
 */
function fakeDocker(dir: string): void {
  writeFileSync(
    join(dir, 'engine.mjs'),
    `import {createServer} from 'node:http'
setTimeout(() => createServer((req, res) => { res.writeHead(req.url === '/_ping' ? 200 : 404); res.end('OK') }).listen(process.argv[2]), 1000)
`,
  )
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/sh
echo "docker $*" >> ${dir}/calls
case "$1" in
  run) for arg; do case "$arg" in *:/bare) bare=\${arg%:/bare} ;; esac; done
    node ${dir}/engine.mjs "$bare/docker.sock" & echo $! > ${dir}/engine.pid
    echo "$bare" > ${dir}/bare-dir ;;
  rm) kill "$(cat ${dir}/engine.pid)" ;;
esac
`,
  )
  chmodSync(join(dir, 'docker'), 0o755)
}

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

  it('times a bare level from docker run until its engine answers, and removes it and its folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inception-timer-test-'))
    try {
      fakeDocker(dir)
      const args = ['BARE SCRIPT', 'bare-0', 'bare:image', '--cap-add', 'ALL', '-v', '/usr:/usr:ro']
      const result = await execa('sh', ['-c', benchScript('time-bare-level.sh'), 'time-bare-level', ...args], {
        env: {PATH: `${dir}:${process.env.PATH ?? ''}`},
        reject: false,
      })
      expect(result.exitCode).toBe(0)
      expect(Number(result.stdout)).toBeGreaterThanOrEqual(1000)
      const bare = readFileSync(join(dir, 'bare-dir'), 'utf8').trim()
      expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')).toEqual([
        `docker run -d --name bare-0 --cap-add ALL -v /usr:/usr:ro -v ${bare}:/bare --entrypoint sh bare:image -c BARE SCRIPT bare-level /bare`,
        'docker rm -f -v bare-0',
      ])
      expect(existsSync(bare)).toBe(false)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it("starts a bare level with nothing of the init's but its cgroup step: no INCEPTION_ variable, no other init file", () => {
    const code = (file: string) => benchScript(file).replace(/^\s*#.*$/gm, '')
    for (const file of ['bare-level.sh', 'time-bare-level.sh']) expect(code(file)).not.toMatch(/INCEPTION_|inception-init/)
    expect(code('time-bare-level.sh')).not.toMatch(/^\s*\.\s/m)
    expect([...code('bare-level.sh').matchAll(/^\s*\.\s+(.*)$/gm)].map((m) => m[1])).toEqual(['"${lib:?set by the bench}/init/cgroups.sh"'])
  })
})
