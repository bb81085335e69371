import {LABEL} from './contract.js'
import {hasLabel, type NestDirectory} from './directory.js'
import {removeClientFolder} from './tls.js'

export interface DownReport {
  name: string
  removedContainers: number
  removedVolumes: number
  seconds: number
}

/**
 * Takes nests down. Level 1 is removed at once (killed, not stopped): its PID namespace holds
 * every process of the levels below, so the kernel ends them all with its init; their network
 * namespaces (interfaces, NAT rules) and mount namespaces (overlay and loop mounts) go with their
 * last process; the host's engine removes level 1's cgroup with the cgroups nested in it; and
 * every deeper level's container and data are files in level 1's volume, removed last. A
 * collapse innermost first (each level stopping the one below through its engine) cost a
 * second more at depth 4, and left nothing behind that this does not remove.
 */
export class NestTeardown {
  constructor(private readonly directory: NestDirectory) {}

  private get engine() {
    return this.directory.engine
  }

  /** Removes a nest: whatever on this engine carries its name, and its client certificates. */
  async down(name: string): Promise<DownReport> {
    const started = Date.now()
    const containers = await this.engine.listContainers([hasLabel(LABEL.nest, name)])
    await Promise.all(containers.map((c) => this.engine.removeContainer(c.id)))
    const volumes = await this.engine.listVolumes([hasLabel(LABEL.nest, name)])
    await Promise.all(volumes.map((v) => this.engine.removeVolume(v.name)))
    removeClientFolder(await this.directory.certificateFolder(name))
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
