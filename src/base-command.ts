import {Command, Flags, Interfaces} from '@oclif/core'

import {nestNameFlag} from './flags.js'
import {connectEngine} from './nesting/dockerode-engine.js'
import type {Engine} from './nesting/engine.js'
import {ExitCode, InceptionError, LevelFailed, UsageError} from './nesting/errors.js'
import {Nests} from './nesting/nest.js'
import {DEFAULT_NEST} from './nesting/request.js'

/** What can reach `catch`: our errors, oclif's (with an exit code; EEXIT is `this.exit` itself), bugs. */
type CommandError = Error & {oclif?: {exit?: number}; code?: string}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof InceptionCommand)['baseFlags'] & T['flags']>

/**
 * What every inception command shares: the --name flag, the engine connection, and one place
 * that turns errors into a single line that says what to do, with a documented exit code.
 */
export abstract class InceptionCommand extends Command {
  static override baseFlags = {
    name: nestNameFlag({char: 'n', description: `name of the nest (default: the only nest there is; \`up\` makes "${DEFAULT_NEST}")`, helpGroup: 'GLOBAL'}),
    context: Flags.string({description: 'docker context to use (default: DOCKER_HOST, else the current context)', helpGroup: 'GLOBAL'}),
  }

  private contextName?: string

  public override async init(): Promise<void> {
    await super.init()
    // The engine to use is known before the command runs: read --context once, here.
    const ctor = this.constructor as typeof InceptionCommand
    const {flags} = await this.parse({
      flags: ctor.flags,
      baseFlags: InceptionCommand.baseFlags,
      args: ctor.args,
      strict: ctor.strict,
      enableJsonFlag: ctor.enableJsonFlag,
    })
    this.contextName = flags.context
  }

  private connected?: Promise<Engine>

  /** The engine, dialled once per command. */
  protected async engine(): Promise<Engine> {
    this.connected ??= connectEngine(process.env, 5000, this.contextName)
    return this.connected
  }

  /**
   * The nest a command is about: --name, else the only nest on the engine. With none, the
   * default name, which the command then reports missing; with several, the error lists them.
   */
  protected async nestName(given: string | undefined): Promise<string> {
    if (given !== undefined) return given
    const names = await (await this.nests()).names()
    if (names.length === 1) return names[0]!
    if (names.length === 0) return DEFAULT_NEST
    throw new UsageError(`there are ${names.length} nests here (${names.join(', ')}); which one?`, 'give --name NAME')
  }

  protected async nests(): Promise<Nests> {
    return new Nests(await this.engine())
  }

  protected override async catch(error: CommandError): Promise<never> {
    const report = failureReport(error, this.id)
    if (!report) throw error
    this.logToStderr(report.line)
    // Only a failed level carries the tail of its log, which says why.
    if (error instanceof LevelFailed && error.logTail) this.logToStderr(error.logTail.trimEnd())
    this.exit(report.exitCode)
  }
}

/**
 * oclif rewrites the message of an error thrown by a flag's parse function to
 * "Parsing --depth \n\t<message>\nSee more help with --help" (on the same object: a UsageError
 * stays one). The flag and the message, taken back out of that.
 */
const FLAG_PARSE_WRAPPING = /^Parsing (--[\w-]+) *\n\t([\s\S]*)\nSee more help with --help$/

/**
 * The single line a failure is reported with, `inception: WHAT; WHAT TO DO`, and its exit code;
 * undefined for what is not the user's to fix (a bug, reported with its stack) or is an exit.
 */
export function failureReport(error: CommandError, commandId: string | undefined): {line: string; exitCode: number} | undefined {
  const wrapped = FLAG_PARSE_WRAPPING.exec(error.message)
  const flag = wrapped?.[1]
  const message = wrapped ? wrapped[2]! : error.message
  if (error instanceof InceptionError) return {line: `inception: ${message}; ${error.hint}`, exitCode: error.exitCode}
  // oclif's own parse errors (unknown flag, missing value): one line, then the usage exit code.
  if (error.oclif?.exit === undefined || error.code === 'EEXIT') return undefined
  // Some say what is wrong on the second line ("The following errors occurred:\n  --a cannot also be provided when using --b").
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
  let first = (lines[0]!.endsWith(':') && lines[1] ? `${lines[0]!.slice(0, -1)}: ${lines[1]}` : lines[0]!).replace(/^Error: /, '')
  // oclif's own flag kinds do not name the flag ("Expected an integer but received: abc").
  if (flag && !first.includes(flag)) first = `${flag}: ${first}`
  return {line: `inception: ${first}; see \`inception ${commandId ?? ''} --help\``, exitCode: ExitCode.usage}
}
