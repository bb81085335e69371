import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {levelFlag} from '../flags.js'
import {clientVariables, formatVariables, VARIABLE_FORMATS} from '../nesting/client-variables.js'
import {DEFAULT_NEST} from '../nesting/request.js'

export default class Env extends InceptionCommand {
  static override summary = "Point a docker client on this machine (the docker CLI, compose, testcontainers) at one level's engine"
  static override description =
    "Prints the variables that make a client talk straight to level K's engine: through its socket on this machine (the default on a " +
    'local engine), else over mutual TLS (a nest started with --expose-daemons). They include what testcontainers needs for that level.'

  static override examples = [
    'eval "$(<%= config.bin %> env --level 3)"; docker ps',
    '<%= config.bin %> env --level 2 --format fish | source',
    '<%= config.bin %> env --json',
  ]

  static override enableJsonFlag = true

  static override flags = {
    level: levelFlag({description: 'level (1 is the outermost)', default: 1}),
    format: Flags.option({options: VARIABLE_FORMATS, description: 'how to print the variables', default: 'shell'})(),
    tls: Flags.boolean({description: 'the mutual TLS port (--expose-daemons) even where the level has a socket', default: false}),
  }

  async run(): Promise<Record<string, string>> {
    const {flags} = await this.parse(Env)
    const {level} = flags
    const name = await this.nestName(flags.name)
    const endpoint = await (await this.nests()).daemonEndpoint(name, level, {tls: flags.tls})
    const variables = clientVariables(endpoint)
    if (this.jsonEnabled()) return variables.set
    const again = `inception env${name === DEFAULT_NEST ? '' : ` --name ${name}`} --level ${level}${flags.tls ? ' --tls' : ''}`
    this.log(formatVariables(variables, flags.format, `level ${level} of nest "${name}", through ${endpoint.route}; again: ${again}`))
    return variables.set
  }
}
