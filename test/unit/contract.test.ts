import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {EXEC_MARK_VARIABLE, INFO_KEYS, INIT_VARIABLES, LEVEL_STATES, shellContract} from '../../src/nesting/contract.js'
import {planNest} from '../../src/nesting/plan.js'
import {levelOneLabels, nestRecord} from '../../src/nesting/record.js'
import {renderLevel} from '../../src/nesting/render.js'
import {parsePortMapping} from '../../src/nesting/ports.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {parseDataRoot} from '../../src/nesting/storage.js'
import {minimalDecision} from '../../src/nesting/privilege.js'
import {VERSION} from '../../src/nesting/version.js'
import {ROOT} from '../support/integration.js'

/**
 * The level contract (src/nesting/contract.ts) against both of its sides: the CLI's level-1
 * container and the init's shell files, read as text.
 */
const IMAGE = join(ROOT, 'image')

/** The init's own files: init.sh and the steps it sources (image/init/*.sh when split), and the demo's CGI. */
function initSources(): Array<{file: string; text: string}> {
  const stepsDir = join(IMAGE, 'init')
  const steps = readdirSync(IMAGE).includes('init')
    ? readdirSync(stepsDir)
        .filter((f) => f.endsWith('.sh'))
        .map((f) => join(stepsDir, f))
    : []
  return [join(IMAGE, 'init.sh'), ...steps, join(IMAGE, 'demo/cgi-bin/chain')].map((file) => ({file, text: readFileSync(file, 'utf8')}))
}

const variablesIn = (text: string) => new Set(text.match(/\bINCEPTION_[A-Z0-9_]+/g) ?? [])

/** Level K's init variables, as the renderer gives them (level 1's on its container, the others' in the plan). */
function levelEnvironment(level: number): Record<string, string> {
  const plan = planNest(parseUpRequest({depth: 3, dataRoot: parseDataRoot('loop:1G'), exposeDaemons: true, ports: [parsePortMapping('8080:80')]}), [])
  const {spec} = renderLevel(plan, minimalDecision(), level)
  const entries = spec.env!.map((entry): [string, string] => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])
  return Object.fromEntries(entries.filter(([name]) => name.startsWith('INCEPTION_')))
}

describe('the level contract', () => {
  it('image/contract.sh is what contract.ts renders (run `npm run contract` after changing the module)', () => {
    expect(readFileSync(join(IMAGE, 'contract.sh'), 'utf8')).toBe(shellContract())
  })

  it('the init reads exactly the variables the contract declares', () => {
    const read = new Set(initSources().flatMap(({text}) => [...variablesIn(text)]))
    expect(read.size).toBeGreaterThan(10)
    expect([...read].sort()).toEqual(Object.keys(INIT_VARIABLES).sort())
  })

  it('the CLI renders for every level every variable the contract gives to the plan, and no other', () => {
    const fromPlan = Object.entries(INIT_VARIABLES)
      .filter(([, v]) => v.from === 'plan')
      .map(([name]) => name)
    const read = new Set(initSources().flatMap(({text}) => [...variablesIn(text)]))
    for (const level of [1, 2, 3]) {
      const env = levelEnvironment(level)
      expect(Object.keys(env).sort(), `level ${level}`).toEqual(fromPlan.sort())
      expect(env.INCEPTION_LEVEL).toBe(String(level))
      for (const name of Object.keys(env)) expect(read, `${name} is set by the CLI but the init never reads it`).toContain(name)
    }
  })

  it('the init writes the board info keys and states the CLI reads, no more', () => {
    const text = initSources()
      .map((s) => s.text)
      .join('\n')
    // By printf, and by the template of the docker info that reads the registry settings back (board.sh).
    const written = [...text.matchAll(/printf '([a-z]+)=%s\\n'/g), ...text.matchAll(/(?:^|--format ')([a-z]+)=\{\{/gm)].map((m) => m[1])
    expect(written.sort()).toEqual([...INFO_KEYS].sort())
    const reported = new Set([...text.matchAll(/\breport "([a-z]+)/g)].map((m) => m[1]))
    expect(reported.size).toBeGreaterThan(2)
    for (const state of reported) expect(LEVEL_STATES as readonly string[]).toContain(state)
  })

  it('neither side spells out a contract fact itself', () => {
    const facts = [/\/run\/inception/, /io\.inception\./, /\b23750\b/, /seccomp=unconfined/]
    for (const {file, text} of initSources()) {
      for (const fact of facts) expect(text, `${file} spells out ${fact}`).not.toMatch(fact)
    }
    // The CLI's scripts for level 1 begin with the contract's shell half, and name the exec's mark from it too.
    const cliScripts = readdirSync(join(IMAGE, 'cli')).filter((f) => f.endsWith('.sh'))
    expect(cliScripts.length).toBeGreaterThan(2)
    for (const file of cliScripts) {
      const text = readFileSync(join(IMAGE, 'cli', file), 'utf8')
      for (const fact of [...facts, new RegExp(EXEC_MARK_VARIABLE)]) expect(text, `image/cli/${file} spells out ${fact}`).not.toMatch(fact)
    }
    const srcDir = join(ROOT, 'src')
    const sources = readdirSync(srcDir, {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.ts') && !f.endsWith('contract.ts'))
    expect(sources.length).toBeGreaterThan(10)
    for (const file of sources) {
      const text = readFileSync(join(srcDir, file), 'utf8')
      for (const fact of facts.slice(0, 3)) expect(text, `src/${file} spells out ${fact}`).not.toMatch(fact)
    }
  })
})

describe('nest labels', () => {
  it('read back as the facts they were written from', () => {
    const input = {name: 'n', depth: 3, privilege: 'minimal' as const, mtu: 1400, ports: [parsePortMapping('18080:80@2')], exposeDaemons: true, network: 'ci'}
    const plan = planNest(parseUpRequest(input), [])
    const record = nestRecord({id: 'c1', name: 'n-l1', state: 'running', labels: levelOneLabels(plan, minimalDecision())})
    expect(record).toEqual({
      name: 'n',
      depth: 3,
      version: VERSION,
      privilege: 'minimal',
      storageDriver: 'overlay2',
      dataRoot: 'volume',
      suite: 'trixie',
      subnets: ['172.31.0.0/24', '172.31.1.0/24', '172.31.2.0/24'],
      pools: ['172.31.8.0/21', '172.31.16.0/21', '172.31.24.0/21'],
      network: 'ci',
      mtu: 1400,
      ports: [{hostPort: 18080, innerPort: 80, level: 2}],
      bind: '127.0.0.1',
      daemonsExposed: true,
      levelOne: {id: 'c1', state: 'running'},
    })
  })
})
