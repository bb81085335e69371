import type {Command} from '@oclif/core'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {InceptionCommand} from '../../src/base-command.js'
import Build from '../../src/commands/build.js'
import Demo from '../../src/commands/demo.js'
import Down from '../../src/commands/down.js'
import Env from '../../src/commands/env.js'
import Exec from '../../src/commands/exec.js'
import Load from '../../src/commands/load.js'
import Logs from '../../src/commands/logs.js'
import Ps from '../../src/commands/ps.js'
import Up from '../../src/commands/up.js'

/**
 * The README's promises about flags, held against the commands and the integration tests:
 * every flag a command has is documented, and every documented flag is used by an integration
 * test of that command. "Used" is read from the test files' text: a command line written as an
 * array (`['logs', '--name', NEST, '--tail', '3']`, `[BIN, 'demo', ...]`, `upFresh(NAME, [...])`,
 * which is `up`) or as a shell string (`node bin/run.js demo --shell ...`). The bad-input table
 * does not count: a refusal of a malformed value says nothing of what the value does once
 * accepted. A test can still use a flag and assert nothing of it; this check only makes sure
 * none is forgotten.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const INTEGRATION = join(ROOT, 'test/integration')
const NOT_COUNTED = new Set(['bad-input.test.ts'])

const COMMANDS: Record<string, typeof Command> = {up: Up, exec: Exec, logs: Logs, env: Env, load: Load, build: Build, down: Down, demo: Demo, ps: Ps}
type CommandName = keyof typeof COMMANDS
const NAMES = Object.keys(COMMANDS)

/** How a flag can be written: `--long`, `-c` when it has a short form, and `--no-long` when it can be negated. */
interface FlagSpelling {
  long: string
  short?: string
  no?: string
}

const spelledAs = (spelling: FlagSpelling, written: string) => [spelling.long, spelling.short, spelling.no].includes(written)

/** The flags every command takes (the base command's), documented and tested once for all. */
const GLOBAL_FLAGS = Object.keys(InceptionCommand.baseFlags).map((flag) => `--${flag}`)

/** A command's own flags, as oclif sees them, with --json where enabled. */
function flagsOf(name: CommandName): FlagSpelling[] {
  const command = COMMANDS[name]!
  const own = Object.fromEntries(Object.entries(command.flags ?? {}).filter(([flag]) => !GLOBAL_FLAGS.includes(`--${flag}`))) as Record<
    string,
    {char?: string; allowNo?: boolean}
  >
  const spellings: FlagSpelling[] = Object.entries(own).map(([flag, definition]) => ({
    long: `--${flag}`,
    ...(definition.char ? {short: `-${definition.char}`} : {}),
    ...(definition.allowNo ? {no: `--no-${flag}`} : {}),
  }))
  if (command.enableJsonFlag) spellings.push({long: '--json'})
  return spellings
}

/** The flags (`--x`, `-x`) written in a piece of command line, up to a lone `--`: what follows is the command run in a level, with flags of its own. */
function flagsIn(text: string): string[] {
  const options = text.split(/(?<!\S)--(?!\S)/)[0]!
  return [...options.matchAll(/(?<![\w-])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]!)
}

/**
 * What the README documents, per command: `up`'s table (each row's first cell), the command block
 * (each `inception COMMAND ...` line, its comment included; `inception --depth` is `up`), and code
 * spans in the text that start with a command (`exec --timeout S`, `up --network NAME`). Flags
 * every command takes are documented once, in the sentences "Every command takes `--name NAME`"
 * and "Every command also takes `--context NAME`".
 */
function documented(): Record<string, Set<string>> {
  const found = Object.fromEntries(NAMES.map((name) => [name, new Set<string>()]))
  const add = (command: string, text: string) => flagsIn(text).forEach((flag) => found[command]?.add(flag))
  const table = /`up` takes:\n\n((?:\|.*\n)+)/.exec(README)
  expect(table, "the README's table of up's flags").not.toBeNull()
  for (const row of table![1]!.split('\n').slice(2)) add('up', row.split('|')[1] ?? '')
  const block = /## Commands\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(README)
  expect(block, "the README's command block").not.toBeNull()
  for (const line of block![1]!.split('\n')) {
    const [code, comment = ''] = line.split(/ #(.*)/)
    const words = /inception (\S+)(.*)$/.exec(code!)
    if (!words) continue
    const command = NAMES.includes(words[1]!) ? words[1]! : words[1]!.startsWith('-') ? 'up' : undefined
    if (command) add(command, `${words[1]}${words[2]} ${comment}`)
  }
  for (const span of README.matchAll(/`(?:inception )?([a-z]+) ([^`]*)`/g)) if (NAMES.includes(span[1]!)) add(span[1]!, span[2]!)
  return found
}

/** The quoted words of an array literal's text: `'--tail'`, `"-f"`, `` `--dockerd-arg=--label=${x}` `` gives --dockerd-arg. */
function quotedFlags(text: string): string[] {
  return [...text.matchAll(/['"`](--?[a-z][a-z0-9-]*)(?=[='"` ])/g)].map((m) => m[1]!)
}

/**
 * The flags each command is run with in the integration tests: array literals whose first
 * quoted word (after at most one other element, such as the CLI's path) is a command, or which
 * start with a flag inside `cli([...])` (plain `inception --depth 4` is `up`); `upFresh(NAME, [...])`
 * (`up`) and `startDemo([...])` (`demo`);
 * and command lines in strings.
 */
function exercised(): {byCommand: Record<string, Set<string>>; files: string[]} {
  const byCommand = Object.fromEntries(NAMES.map((name) => [name, new Set<string>()]))
  const files = readdirSync(INTEGRATION).filter((file) => file.endsWith('.test.ts') && !NOT_COUNTED.has(file))
  const commandWords = NAMES.join('|')
  for (const file of files) {
    const text = readFileSync(join(INTEGRATION, file), 'utf8')
    const arrays = new RegExp(`\\[\\s*(?:[^\\[\\],'"\`]+,\\s*|'[^']*run\\.js',\\s*)?'(${commandWords})'\\s*(,[^\\]]*)?\\]`, 'g')
    for (const m of text.matchAll(arrays)) quotedFlags(m[2] ?? '').forEach((flag) => byCommand[m[1]!]!.add(flag))
    for (const m of text.matchAll(/cli\(\[\s*('--[^\]]*)\]/g)) quotedFlags(m[1]!).forEach((flag) => byCommand.up!.add(flag))
    for (const m of text.matchAll(/upFresh\([^,]+,\s*\[([^\]]*)\]/g)) quotedFlags(m[1]!).forEach((flag) => byCommand.up!.add(flag))
    for (const m of text.matchAll(/startDemo\(\[([^\]]*)\]/g)) quotedFlags(m[1]!).forEach((flag) => byCommand.demo!.add(flag))
    for (const m of text.matchAll(new RegExp(`(?:run\\.js|inception) (${commandWords})((?: [^'"\`\\n]*)?)`, 'g')))
      flagsIn(m[2] ?? '').forEach((flag) => byCommand[m[1]!]!.add(flag))
  }
  return {byCommand, files}
}

describe("the README's flags", () => {
  const docs = documented()
  const tests = exercised()

  it('reads something on both sides', () => {
    // A reader that finds nothing would make both checks below pass.
    expect(docs.up!.size).toBeGreaterThan(10)
    expect(tests.files.length).toBeGreaterThan(5)
    for (const name of ['up', 'exec', 'logs', 'down']) expect(tests.byCommand[name]!.size, `flags read for ${name}`).toBeGreaterThan(0)
  })

  it('documents the flags every command takes, and runs a command with each', () => {
    for (const flag of GLOBAL_FLAGS) {
      expect(README, `the README says every command takes ${flag}`).toMatch(new RegExp(`Every command (also )?takes \`${flag} NAME\``))
      expect(
        NAMES.some((name) => tests.byCommand[name]!.has(flag)),
        `${flag}: no integration test runs a command with it`,
      ).toBe(true)
    }
  })

  it.each(NAMES)('documents every flag of %s', (name) => {
    const missing = flagsOf(name).filter((spelling) => ![...docs[name]!].some((written) => spelledAs(spelling, written)))
    expect(
      missing.map((f) => f.long),
      `flags of \`inception ${name}\` the README does not mention`,
    ).toEqual([])
  })

  it.each(NAMES)('has an integration test for every documented flag of %s', (name) => {
    const spellings = flagsOf(name)
    const untested = [...docs[name]!].filter((flag) => {
      const spelling = spellings.find((s) => spelledAs(s, flag))
      // A documented flag the command does not have is a README error of its own.
      if (!spelling) return true
      return ![...tests.byCommand[name]!].some((written) => spelledAs(spelling, written))
    })
    expect(untested, `flags of \`inception ${name}\` documented in the README with no integration test (bad-input rows do not count)`).toEqual([])
  })
})
