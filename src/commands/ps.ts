import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import type {LevelStatus, NestStatus} from '../nesting/nest.js'

const megabytes = (bytes?: number) => (bytes === undefined ? '-' : `${Math.round(bytes / 2 ** 20)}MB`)

/** Memory (used/budget), and with a budget the CPUs, tasks and OOM kills. */
function usage({memoryBytes, budget}: LevelStatus): string[] {
  if (!budget) return [megabytes(memoryBytes)]
  return [
    budget.memoryBytes === undefined ? megabytes(memoryBytes) : `${megabytes(memoryBytes)}/${megabytes(budget.memoryBytes)}`,
    ...(budget.cpus === undefined ? [] : [`cpus ${budget.cpus}${budget.cpuset ? ` on ${budget.cpuset}` : ''}`]),
    ...(budget.pids === undefined ? [] : [`pids ${budget.pidsUsed ?? '-'}/${budget.pids}`]),
    ...(budget.oomKills === undefined ? [] : [`oom kills ${budget.oomKills}`]),
  ]
}

export default class Ps extends InceptionCommand {
  static override summary = 'Show nests as trees: each level, its engine, storage, privilege, subnet, ports, memory'
  static override examples = ['<%= config.bin %> ps', '<%= config.bin %> ps --name ci --json']
  static override enableJsonFlag = true

  static override flags = {
    all: Flags.boolean({char: 'a', description: 'every nest (the default unless --name is given)', default: false}),
  }

  async run(): Promise<NestStatus[]> {
    const {flags} = await this.parse(Ps)
    const nests = await this.nests()
    // Without --name, ps shows every nest.
    const statuses = !flags.all && flags.name !== undefined ? [await nests.status(flags.name)] : await nests.statusAll()
    if (statuses.length === 0) this.log('no nests; start one with `inception up`')
    for (const status of statuses) this.printTree(status)
    return statuses
  }

  private printTree(status: NestStatus): void {
    this.log(
      `${status.name}  depth ${status.depth}${status.suite ? `  suite ${status.suite}` : ''}  privilege ${status.requestedPrivilege}  ` +
        `storage ${status.storageDriver} on ${status.dataRoot}` +
        (status.ports.length > 0 ? `  ports ${status.ports.join(' ')}` : ''),
    )
    status.levels.forEach((level: LevelStatus, index) => {
      const indent = '   '.repeat(index)
      const details = [
        level.containerId.slice(0, 12) || '-',
        level.state,
        level.dockerdReady ? `dockerd ${level.dockerdVersion}` : 'dockerd not ready',
        level.storageDriver || '-',
        level.privilege || '-',
        level.bridge || '-',
        level.mtu ? `mtu ${level.mtu}` : '-',
        ...usage(level),
        ...(level.endpoint ? [level.endpoint] : []),
      ]
      this.log(`${indent}└─ L${level.level} ${level.name}  ${details.join('  ')}${level.detail && level.state !== 'running' ? `  (${level.detail})` : ''}`)
    })
  }
}
