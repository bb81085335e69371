import {Command, Flags, Interfaces} from '@oclif/core'

import {connectEngine} from './nesting/dockerode-engine.js'
import type {Engine} from './nesting/engine.js'
import {ExitCode, InceptionError} from './nesting/errors.js'
import {Nests} from './nesting/nest.js'
import {DEFAULT_NEST} from './nesting/request.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof InceptionCommand)['baseFlags'] & T['flags']>

/**
 * What every inception command shares: the --name flag, the engine connection, and one place
 * that turns errors into a single line that says what to do, with a documented exit code.
 */
export abstract class InceptionCommand extends Command {
  static override baseFlags = {
    name: Flags.string({char: 'n', description: 'name of the nest', default: DEFAULT_NEST, helpGroup: 'GLOBAL'}),
    context: Flags.string({description: 'docker context to use (default: DOCKER_HOST, else the current context)', helpGroup: 'GLOBAL'}),
  }

  private contextName?: string

  public override async init(): Promise<void> {
    await super.init()
    // The engine to use is known before the command runs: read --context once, here.
    const ctor = this.constructor as typeof InceptionCommand
    const {flags} = await this.parse({flags: ctor.flags, baseFlags: InceptionCommand.baseFlags, args: ctor.args, strict: ctor.strict, enableJsonFlag: ctor.enableJsonFlag})
    this.contextName = flags.context as string | undefined
  }

  protected async engine(): Promise<Engine> {
    return connectEngine(process.env, 5000, this.contextName)
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
      // Some say what is wrong on the second line ("The following errors occurred:\n  --a cannot also be provided when using --b").
      const lines = error.message.split('\n').map((line) => line.trim()).filter((line) => line.length > 0)
      const first = (lines[0]!.endsWith(':') && lines[1] ? `${lines[0]!.slice(0, -1)}: ${lines[1]}` : lines[0]!).replace(/^Error: /, '')
      this.logToStderr(`inception: ${first}; see \`inception ${this.id ?? ''} --help\``)
      this.exit(ExitCode.usage)
    }
    throw error
  }
}
