import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import type {DownReport} from '../nesting/nest.js'
import {NestNotFound} from '../nesting/errors.js'

export default class Down extends InceptionCommand {
  static override summary = 'Remove a nest completely: every level, and the volume that holds them'
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --name ci', '<%= config.bin %> down --all']
  static override enableJsonFlag = true

  static override flags = {
    all: Flags.boolean({description: 'remove every nest on this engine', default: false}),
  }

  async run(): Promise<DownReport[]> {
    const {flags} = await this.parse(Down)
    const nests = await this.nests()
    let reports: DownReport[]
    if (flags.all) {
      reports = await nests.downAll()
    } else {
      const name = await this.nestName(flags.name)
      const report = await nests.down(name)
      if (report.removedContainers === 0 && report.removedVolumes === 0) throw new NestNotFound(name)
      reports = [report]
    }
    for (const r of reports) this.log(`removed nest "${r.name}" (${r.removedContainers} container, ${r.removedVolumes} volume) in ${r.seconds.toFixed(1)}s`)
    if (reports.length === 0) this.log('no nests to remove')
    return reports
  }
}
