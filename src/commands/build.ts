import {Flags} from '@oclif/core'
import {Listr} from 'listr2'

import {InceptionCommand} from '../base-command.js'
import {imageFlag, suiteFlag} from '../flags.js'
import {ImageBuilder} from '../nesting/image.js'
import {baseImageForSuite, imageForSuite, SUITE_NOTES, SUITES} from '../nesting/suites.js'

export default class Build extends InceptionCommand {
  static override summary = 'Build the level image (dockerd, its tools and the init) from image/'
  static override description =
    `The suite decides the Docker every level runs: ${SUITES.map((s) => `${s}: ${SUITE_NOTES[s]}`).join('; ')}. ` +
    `The base image is taken from the engine, else pulled, else (no registry reachable) bootstrapped from Debian's packages with debootstrap. ` +
    'An existing image of this version and suite is reused unless --force is given.'

  static override examples = ['<%= config.bin %> build', '<%= config.bin %> build --suite forky', '<%= config.bin %> build --force']

  static override flags = {
    suite: suiteFlag({description: 'Debian suite'}),
    force: Flags.boolean({description: 'rebuild even if the image exists', default: false}),
    base: imageFlag({description: 'base image of that suite (default: debian:SUITE-slim, else bootstrapped)'}),
    tag: imageFlag({description: 'image tag (default: inception:VERSION-SUITE)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Build)
    const {suite} = flags
    const tag = flags.tag ?? imageForSuite(suite)
    const started = Date.now()
    const builder = new ImageBuilder(await this.engine())
    if (!flags.force && (await builder.upToDate(tag, suite))) {
      this.log(`image ${tag} is up to date with image/; reused (--force rebuilds)`)
      return
    }
    let base = flags.base ?? baseImageForSuite(suite)
    await new Listr(
      [
        {
          title: `Base image ${base}`,
          task: async (_, task) => {
            const result = await builder.ensureBase(suite, flags.base, (line) => (task.output = line))
            base = result.reference
            task.title = `Base image ${result.reference} (${result.source})`
          },
        },
        {
          title: `Building ${tag} (${suite})`,
          task: async (_, task) => {
            await builder.build(tag, suite, base, (line) => (task.output = line))
          },
        },
      ],
      {fallbackRenderer: 'simple', registerSignalListeners: false, rendererOptions: {collapseErrors: false}},
    ).run()
    this.log(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  }
}
