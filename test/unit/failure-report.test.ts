import {Flags, Parser} from '@oclif/core'
import {describe, expect, it} from 'vitest'

import {failureReport} from '../../src/base-command.js'
import {UsageError} from '../../src/nesting/errors.js'

/** What oclif's parser throws for `argv`, through the real parser (it rewrites the messages of flag parse errors). */
async function parseError(argv: string[], flags: Parser.FlagInput): Promise<Error> {
  try {
    await Parser.parse(argv, {flags})
  } catch (error) {
    return error as Error
  }
  throw new Error(`${argv.join(' ')} was accepted`)
}

describe('one line for a failure', () => {
  it("gives a UsageError thrown by a flag's parse as it was written, not as oclif rewrote it", async () => {
    const depth = Flags.custom<number>({
      async parse(text) {
        throw new UsageError(`--depth ${text} is out of range`, 'a nest has at least one level: --depth 1')
      },
    })
    const error = await parseError(['--depth', '0'], {depth: depth()})
    expect(error.message).toMatch(/^Parsing --depth/)
    expect(failureReport(error, 'up')).toEqual({line: 'inception: --depth 0 is out of range; a nest has at least one level: --depth 1', exitCode: 2})
  })

  it("names the flag when oclif's own flag kind says what is wrong without it", async () => {
    const error = await parseError(['--tail', '0'], {tail: Flags.integer({min: 1})})
    expect(failureReport(error, 'logs')).toEqual({
      line: 'inception: --tail: Expected an integer greater than or equal to 1 but received: 0; see `inception logs --help`',
      exitCode: 2,
    })
  })

  it("keeps oclif's other parse errors to their first line, with where to look", async () => {
    const error = await parseError(['--nope'], {tail: Flags.integer()})
    expect(failureReport(error, 'logs')).toEqual({line: 'inception: Nonexistent flag: --nope; see `inception logs --help`', exitCode: 2})
  })

  it('leaves a bug to be reported with its stack', () => {
    expect(failureReport(new TypeError('x is undefined'), 'up')).toBeUndefined()
  })
})
