import {LABEL, stopSeconds} from './contract.js'
import {hasLabel, type NestDirectory} from './directory.js'
import {removeClientFolder} from './tls.js'

export interface DownReport {
  name: string
  removedContainers: number
  removedVolumes: number
  seconds: number
}

/** Takes nests down: level 1 collapses the levels below it innermost first, then goes with its volume. */
export class NestTeardown {
  constructor(private readonly directory: NestDirectory) {}

  private get engine() {
    return this.directory.engine
  }

  /** Removes a nest: whatever on this engine carries its name, and its client certificates. */
  async down(name: string): Promise<DownReport> {
    const started = Date.now()
    const containers = await this.engine.listContainers([hasLabel(LABEL.nest, name)])
    const depth = Math.max(1, ...containers.map((c) => Number(c.labels[LABEL.depth] ?? 1)))
    await Promise.all(
      containers.map(async (c) => {
        await this.engine.stopContainer(c.id, stopSeconds(depth))
        await this.engine.removeContainer(c.id)
      }),
    )
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
