import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {EXEC_MARK_VARIABLE, INFO_KEYS, INIT_VARIABLES, LEVEL_STATES, nestLabels, nestRecord, shellContract} from '../../src/nesting/contract.js'
import {levelOneSpec, nestFacts, planNest} from '../../src/nesting/plan.js'
import {parsePortMapping} from '../../src/nesting/ports.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {parseDataRoot} from '../../src/nesting/storage.js'
import {minimalDecision} from '../../src/nesting/privilege.js'
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

function levelOneEnvironment(): Record<string, string> {
  const spec = levelOneSpec(
    planNest(parseUpRequest({depth: 3, dataRoot: parseDataRoot('loop:1G'), exposeDaemons: true, ports: [parsePortMapping('8080:80')]}), []),
    minimalDecision(),
  )
  return Object.fromEntries(spec.env!.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
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

  it('the CLI sets every variable the contract gives to the CLI, and no other', () => {
    const env = levelOneEnvironment()
    const fromCli = Object.entries(INIT_VARIABLES)
      .filter(([, v]) => v.from === 'cli')
      .map(([name]) => name)
    expect(Object.keys(env).sort()).toEqual(fromCli.sort())
    const read = new Set(initSources().flatMap(({text}) => [...variablesIn(text)]))
    for (const name of Object.keys(env)) expect(read, `${name} is set by the CLI but the init never reads it`).toContain(name)
  })

  it('the init writes the board info keys and states the CLI reads, no more', () => {
    const text = initSources()
      .map((s) => s.text)
      .join('\n')
    const written = [...text.matchAll(/printf '([a-z]+)=%s\\n'/g)].map((m) => m[1])
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
    const plan = planNest(parseUpRequest({name: 'n', depth: 3, mtu: 1400, ports: [parsePortMapping('18080:80@2')], exposeDaemons: true, network: 'ci'}), [])
    const facts = nestFacts(plan, minimalDecision())
    const record = nestRecord({id: 'c1', name: 'n-l1', state: 'running', labels: nestLabels(facts)})
    expect(record).toEqual({...facts, levelOne: {id: 'c1', state: 'running'}})
    expect(record.ports).toHaveLength(1)
  })
})
