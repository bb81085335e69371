import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {levelFlag} from '../flags.js'

export default class Logs extends InceptionCommand {
  static override summary = "Show a level's output: its init and its dockerd"
  static override examples = ['<%= config.bin %> logs --level 2', '<%= config.bin %> logs --level 4 -f --tail 20']

  static override flags = {
    level: levelFlag({description: 'level (1 is the outermost)', default: 1}),
    follow: Flags.boolean({char: 'f', description: 'keep following the output', default: false}),
    tail: Flags.integer({description: 'only the last N lines', min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Logs)
    const nests = await this.nests()
    await nests.logs(await this.nestName(flags.name), flags.level, {follow: flags.follow, tail: flags.tail}, process.stdout, process.stderr)
  }
}
