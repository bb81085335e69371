import {Args, Flags} from '@oclif/core'
import {Listr} from 'listr2'

import {InceptionCommand} from '../base-command.js'
import {levelFlag} from '../flags.js'
import {parseImageReference} from '../nesting/image.js'
import {ImageLoader, type LoadReport, type LoadTarget} from '../nesting/load.js'

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`

export default class Load extends InceptionCommand {
  static override summary = "Put this engine's images into a level of a nest (the innermost by default), or into every level"
  static override description =
    'No registry is needed: the images are saved from this engine once and streamed into the nest, and keep their IDs and tags. ' +
    'The data crosses into the nest once, even with --all-levels: every level reads it from the directory the levels share.'

  static override examples = [
    '<%= config.bin %> load myapp:latest',
    '<%= config.bin %> load myapp:latest redis:7 --level 2',
    '<%= config.bin %> load myapp:latest --all-levels',
  ]

  static override enableJsonFlag = true
  // Every argument is an image.
  static override strict = false

  static override args = {
    image: Args.string({description: 'an image of this engine (name:tag or ID); give several to load them together', required: true}),
  }

  static override flags = {
    level: levelFlag({description: 'the level to load into (default: the innermost)', exclusive: ['all-levels']}),
    'all-levels': Flags.boolean({description: 'load into every level of the nest', default: false, exclusive: ['level']}),
  }

  async run(): Promise<LoadReport> {
    const {flags, argv} = await this.parse(Load)
    const target: LoadTarget = flags['all-levels'] ? {kind: 'all'} : flags.level === undefined ? {kind: 'innermost'} : {kind: 'level', level: flags.level}
    // Checked before the engine is asked anything: it answers a malformed reference with a raw HTTP error.
    const references = (argv as string[]).map((reference) => parseImageReference(reference, 'image'))
    const engine = await this.engine()
    const loader = new ImageLoader(engine, await this.nests())
    const name = await this.nestName(flags.name)
    const {levels} = await loader.plan(name, references, target)
    const where = levels.length === 1 ? `level ${levels[0]}` : `levels 1 to ${levels.length}`
    let report: LoadReport | undefined
    await new Listr(
      [
        {
          title: `Loading ${references.join(', ')} into ${where} of "${name}"`,
          task: async (_, task) => {
            const started = Date.now()
            let shown = 0
            report = await loader.load(name, references, target, {
              progress({bytes, expectedBytes}) {
                // A line at most every 2 s when the output is not a terminal (a CI log stays short).
                const now = Date.now()
                if (now - shown < (process.stdout.isTTY ? 200 : 2000)) return
                shown = now
                const rate = bytes / Math.max(0.001, (now - started) / 1000)
                task.output = `${megabytes(bytes)} of about ${megabytes(expectedBytes)} moved, ${megabytes(rate)}/s`
              },
              loading(levels) {
                task.output = `moved; ${levels.length === 1 ? `level ${levels[0]}'s engine is` : `${levels.length} engines are`} loading the images`
              },
            })
            const rate = megabytes(report.bytes / Math.max(0.001, report.seconds))
            task.title = `Loaded into ${where} of "${name}": ${megabytes(report.bytes)} in ${report.seconds.toFixed(1)}s (${rate}/s)`
          },
        },
      ],
      {
        renderer: this.jsonEnabled() ? 'silent' : 'default',
        fallbackRenderer: this.jsonEnabled() ? 'silent' : 'simple',
        registerSignalListeners: false,
        exitOnError: true,
        rendererOptions: {collapseErrors: false},
      },
    ).run()
    for (const line of report!.loaded) this.log(`  ${line}`)
    for (const reference of report!.untagged) this.log(`  ${reference} has no tag on this engine: it arrives untagged (<none>:<none>), by its ID`)
    return report!
  }
}
