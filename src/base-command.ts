import {Command, Flags, Interfaces} from '@oclif/core'

import {connectEngine, type Engine} from './nesting/engine.js'
import {ExitCode, InceptionError} from './nesting/errors.js'
import {Nests} from './nesting/nest.js'
import {DEFAULT_NEST} from './nesting/plan.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof InceptionCommand)['baseFlags'] & T['flags']>

/**
 * What every inception command shares: the --name flag, the engine connection, and one place
 * that turns errors into a single line that says what to do, with a documented exit code.
 */
export abstract class InceptionCommand extends Command {
  static override baseFlags = {
    name: Flags.string({char: 'n', description: 'name of the nest', default: DEFAULT_NEST, helpGroup: 'GLOBAL'}),
  }

  protected async engine(): Promise<Engine> {
    return connectEngine()
  }

  protected async nests(): Promise<Nests> {
    return new Nests(await this.engine())
  }

  protected override async catch(error: Error & {oclif?: {exit?: number}; code?: string}): Promise<never> {
    if (error instanceof InceptionError) {
      this.logToStderr(`inception: ${error.message}; ${error.hint}`)
      if (error.exitCode === ExitCode.levelFailed && 'logTail' in error && error.logTail) {
        this.logToStderr(String(error.logTail).trimEnd())
      }
      this.exit(error.exitCode)
    }
    // oclif's own parse errors (unknown flag, missing value): one line, then the usage exit code.
    if (error.oclif?.exit !== undefined && error.code !== 'EEXIT') {
      const first = error.message.split('\n')[0]!.replace(/^Error: /, '')
      this.logToStderr(`inception: ${first}; see \`inception ${this.id ?? ''} --help\``)
      this.exit(ExitCode.usage)
    }
    throw error
  }
}
