import {LABEL} from './contract.js'
import {hasLabel, type NestDirectory} from './directory.js'
import {removeContexts} from './contexts.js'
import {nestRecord} from './record.js'
import {isThisMachine} from './endpoint.js'
import {defaultSocketFolder, removeSockets} from './sockets.js'
import {SubnetLock} from './subnet-lock.js'
import {removeClientFolder} from './tls.js'

export interface DownReport {
  name: string
  removedContainers: number
  removedVolumes: number
  seconds: number
}

/**
 * Takes nests down. Level 1 is stopped (SIGTERM): its init has its engine remove every container
 * it runs, the next level included, killed, which ends every level below at once (the next
 * level's init is PID 1 of a namespace that holds them all), and each engine removes its
 * containers' cgroups wherever its layout puts them; then level 1 is removed, and its volume,
 * which holds every deeper level's data. Killing level 1 outright was as fast, but under an
 * engine that gives level 1 no cgroup namespace of its own (Podman here), the next level's cgroup
 * is not under level 1's, and nothing removed it. Letting each level stop the one below, in
 * turn, cost a second more at depth 4.
 */
const LEVEL_ONE_STOP_SECONDS = 10

export class NestTeardown {
  constructor(private readonly directory: NestDirectory) {}

  private get engine() {
    return this.directory.engine
  }

  /**
   * Removes a nest: whatever on this engine carries its name, and its client certificates. A
   * subnet lock whose holder is gone goes too: `up` would take it over anyway, but it need not
   * be seen on the engine.
   */
  async down(name: string): Promise<DownReport> {
    const started = Date.now()
    await new SubnetLock(this.engine).clearStale().catch(() => false)
    const containers = await this.engine.listContainers([hasLabel(LABEL.nest, name)])
    // Level 1's label says where the nest's sockets are on this machine: read from the list above, before it goes.
    const socketFolders = containers.filter((c) => c.labels[LABEL.level] === '1').map((c) => nestRecord(c).sockets)
    await Promise.all(
      containers.map(async (c) => {
        await this.engine.stopContainer(c.id, LEVEL_ONE_STOP_SECONDS)
        await this.engine.removeContainer(c.id)
      }),
    )
    const volumes = await this.engine.listVolumes([hasLabel(LABEL.nest, name)])
    await Promise.all(volumes.map((v) => this.engine.removeVolume(v.name)))
    removeClientFolder(await this.directory.certificateFolder(name))
    for (const folder of socketFolders) removeSockets(folder)
    // A nest whose level 1 is gone (removed by hand, or an `up` killed before it made it) leaves the
    // folder `up` makes in the default place with no label that names it.
    if (isThisMachine(this.engine.address)) removeSockets(defaultSocketFolder(name))
    removeContexts(name, await this.directory.engineIdentity())
    return {name, removedContainers: containers.length, removedVolumes: volumes.length, seconds: (Date.now() - started) / 1000}
  }

  /**
   * Removes every nest on the engine, and what is left of nests that are gone: containers of a
   * nest whose level 1 was removed by hand, and volumes whose container never came (a CLI
   * killed between creating level 1's volume and its container) or was removed without them.
   */
  async downAll(): Promise<DownReport[]> {
    const labelled = [...(await this.engine.listContainers([hasLabel(LABEL.nest)])), ...(await this.engine.listVolumes([hasLabel(LABEL.nest)]))]
    const names = new Set([...(await this.directory.names()), ...labelled.map((item) => item.labels[LABEL.nest]!)])
    const reports: DownReport[] = []
    for (const name of [...names].sort()) reports.push(await this.down(name))
    return reports
  }
}
