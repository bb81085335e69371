import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {levelFlag} from '../flags.js'
import type {DaemonEndpoint} from '../nesting/nest.js'
import {DEFAULT_NEST} from '../nesting/request.js'

/** Single-quotes a value for a POSIX shell. */
const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`

export default class Env extends InceptionCommand {
  static override summary = "Point a docker client on this machine at one level's engine"
  static override description =
    'Prints the variables that make the stock docker CLI (or any client) talk straight to level K over mutual TLS. ' +
    'The nest must have been started with --expose-daemons.'

  static override examples = ['eval "$(<%= config.bin %> env --level 3)"; docker ps', '<%= config.bin %> env --level 2 --format json']

  static override flags = {
    level: levelFlag({description: 'level (1 is the outermost)', default: 1}),
    format: Flags.option({options: ['shell', 'json'] as const, description: 'how to print the variables', default: 'shell'})(),
  }

  async run(): Promise<DaemonEndpoint> {
    const {flags} = await this.parse(Env)
    const {name, level} = flags
    const endpoint = await (await this.nests()).daemonEndpoint(name, level)
    const variables = {DOCKER_HOST: endpoint.host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: endpoint.certPath}
    if (flags.format === 'json') {
      this.log(JSON.stringify(variables, null, 2))
    } else {
      this.log(
        `export ${Object.entries(variables)
          .map(([k, v]) => `${k}=${quote(v)}`)
          .join(' ')}`,
      )
      this.log(`# level ${level} of nest "${name}": run  eval "$(inception env${name === DEFAULT_NEST ? '' : ` --name ${name}`} --level ${level})"`)
    }
    return endpoint
  }
}
