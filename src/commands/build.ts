import {Flags} from '@oclif/core'
import {Listr} from 'listr2'

import {InceptionCommand} from '../base-command.js'
import {DEFAULT_BASE_IMAGE, ImageBuilder} from '../nesting/image.js'
import {DEFAULT_IMAGE} from '../nesting/version.js'

export default class Build extends InceptionCommand {
  static override summary = 'Build the level image (dockerd, its tools and the init) from image/'
  static override description =
    `The base image is taken from the engine, else pulled, else (no registry reachable) bootstrapped from Debian's packages with debootstrap. ` +
    'An existing image of this version is reused unless --force is given.'

  static override examples = ['<%= config.bin %> build', '<%= config.bin %> build --force']

  static override flags = {
    force: Flags.boolean({description: 'rebuild even if the image exists', default: false}),
    base: Flags.string({description: 'Debian bookworm base image', default: DEFAULT_BASE_IMAGE}),
    tag: Flags.string({description: 'image tag', default: DEFAULT_IMAGE}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Build)
    const started = Date.now()
    const builder = new ImageBuilder(await this.engine())
    if (!flags.force && (await builder.upToDate(flags.tag))) {
      this.log(`image ${flags.tag} is up to date with image/; reused (--force rebuilds)`)
      return
    }
    let base = flags.base
    await new Listr(
      [
        {
          title: `Base image ${flags.base}`,
          task: async (_, task) => {
            const result = await builder.ensureBase(flags.base, (line) => (task.output = line))
            base = result.reference
            task.title = `Base image ${result.reference} (${result.source})`
          },
        },
        {
          title: `Building ${flags.tag}`,
          task: async (_, task) => {
            await builder.build(flags.tag, base, (line) => (task.output = line))
          },
        },
      ],
      {fallbackRenderer: 'simple', registerSignalListeners: false, rendererOptions: {collapseErrors: false}},
    ).run()
    this.log(`built ${flags.tag} in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  }
}
