import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {climbOut, spinTheTop} from '../demo/shell.js'
import {DEMO_INNER_PORT, DEMO_NEST, SpinningTop} from '../demo/spinning-top.js'
import {depthFlag, hostPortFlag, nestNameFlag, suiteFlag} from '../flags.js'
import {ImageBuilder} from '../nesting/image.js'
import {Nests} from '../nesting/nest.js'
import {pollUntil} from '../nesting/poll.js'
import {parseUpRequest} from '../nesting/request.js'
import {upWithProgress} from '../up-driver.js'

export default class Demo extends InceptionCommand {
  static override summary = 'The spinning top: a nest whose innermost level serves a page on your host'
  static override description =
    'Builds the image if needed, brings up a nest (4 levels by default), starts a web server in the innermost level and chains its port ' +
    'to 127.0.0.1. The page shows the top spinning and the chain of levels it runs in, read live. Ctrl-C collapses the nest level by level.'

  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --depth 6 --port 9000',
    '<%= config.bin %> demo --shell',
    '<%= config.bin %> demo --down',
  ]

  static override flags = {
    name: nestNameFlag({char: 'n', description: 'name of the demo nest', default: DEMO_NEST}),
    depth: depthFlag({description: 'how many levels', default: 4}),
    port: hostPortFlag({description: 'host port for the page (on 127.0.0.1)', default: 8080}),
    suite: suiteFlag({description: 'Debian suite of the level image'}),
    shell: Flags.boolean({description: 'instead of waiting, open a shell at the innermost level; each exit climbs one level', default: false}),
    down: Flags.boolean({description: 'collapse a running demo nest and exit', default: false}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Demo)
    const {name} = flags
    const request = parseUpRequest({name, depth: flags.depth, suite: flags.suite, ports: [{hostPort: flags.port, innerPort: DEMO_INNER_PORT}]})
    const engine = await this.engine()
    const nests = new Nests(engine)
    const top = new SpinningTop(nests, engine)

    if (flags.down) {
      const status = await nests.status(name)
      await this.wakeUp(top, name, status.depth)
      return
    }

    const built = await new ImageBuilder(engine).ensure(request.image, request.suite, {onBase: (line) => this.log(`  ${line}`)})
    if (built !== 'reused') this.log(`built ${request.image} (base ${built})`)
    await upWithProgress(nests, request, {quiet: false, log: (line) => this.log(line)})
    try {
      await top.describeHost(name)
      await top.serve(name, request.depth)
    } catch (error) {
      await nests.down(name).catch(() => undefined)
      throw error
    }
    this.log('')
    this.log(`  The top is spinning ${request.depth} levels down: http://127.0.0.1:${flags.port}/`)
    this.log('')

    if (flags.shell) {
      await climbOut(nests, name, request.depth, (line) => this.log(line))
      await this.wakeUp(top, name, request.depth)
      await spinTheTop((text) => process.stdout.write(text), Boolean(process.stdout.isTTY))
      return
    }
    this.log('  Press Ctrl-C to wake up (collapse the nest), or run `inception demo --down` elsewhere.')
    // Until Ctrl-C, or until `inception demo --down` from another terminal removes the nest.
    // Ctrl-C is answered at once: the wait for a removal elsewhere runs beside it and is dropped.
    // A second Ctrl-C during the collapse skips the page's pace and goes straight to the removal.
    // Listeners are on, not once: a once listener lets the signal-exit module (loaded by listr2)
    // re-raise the signal and kill the CLI mid-collapse.
    const interrupted = new AbortController()
    const hurried = new AbortController()
    const onSignal = () => (interrupted.signal.aborted ? hurried.abort() : interrupted.abort())
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      const woken = new Promise<'interrupted'>((resolve) => interrupted.signal.addEventListener('abort', () => resolve('interrupted')))
      const removedElsewhere = pollUntil(
        async () => {
          if (interrupted.signal.aborted) return 'interrupted' as const
          // An engine that does not answer for a moment is not a removal.
          const names = await nests.names().catch(() => [name])
          return names.includes(name) ? undefined : ('removed' as const)
        },
        {intervalMs: 2000, signal: interrupted.signal},
      )
      const why = await Promise.race([woken, removedElsewhere])
      interrupted.abort()
      if (why === 'interrupted') await this.wakeUp(top, name, request.depth, hurried.signal)
      else this.log(`Nest "${name}" was removed elsewhere: you woke up.`)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  private async wakeUp(top: SpinningTop, name: string, depth: number, hurry?: AbortSignal): Promise<void> {
    this.log('The dream is collapsing...')
    const report = await top.collapse(name, depth, (level) => this.log(`${'  '.repeat(level)}level ${level} is going`), hurry)
    this.log(`You woke up: nest "${name}" removed in ${report.seconds.toFixed(1)}s. Is the top still spinning?`)
  }
}
