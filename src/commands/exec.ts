import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {levelFlag, timeoutFlag} from '../flags.js'
import {bothEndsAreTerminals, withTerminal} from '../terminal.js'

export default class Exec extends InceptionCommand {
  static override summary = 'Run a command, or an interactive shell, at any level of a nest'
  static override description =
    "The command runs in level K's container, where `docker` talks to level K's engine. Its exit status is passed through. " +
    'Standard input is streamed when it is not a terminal; with a terminal on both ends the command gets one.'

  static override examples = [
    '<%= config.bin %> exec --level 3 -- docker ps',
    'echo hi | <%= config.bin %> exec --level 4 -- cat',
    '<%= config.bin %> exec --level 2',
  ]

  // Everything after `--` is the command, passed on untouched.
  static override strict = false

  static override flags = {
    level: levelFlag({description: 'level to run at (1 is the outermost)', default: 1}),
    interactive: Flags.boolean({char: 'i', description: 'stream standard input even from a terminal', default: false}),
    tty: Flags.boolean({char: 't', description: 'allocate a terminal (default: when stdin and stdout are terminals)', allowNo: true}),
    timeout: timeoutFlag({description: 'give up after this many seconds (default: wait for the command)'}),
  }

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(Exec)
    const {level} = flags
    // The command from the parser's raw tokens: its non-strict argv reorders repeated words
    // ("-p 8080:80 ... -p 80" came back as "-p -p 8080:80 ... 80").
    const words = raw.filter((token) => token.type === 'arg').map((token) => token.input)
    const cmd = words.length > 0 ? words : ['bash', '-l']
    const tty = flags.tty ?? bothEndsAreTerminals()
    // Piped input is always streamed; a terminal's only when the command gets a terminal or -i asks.
    const attachStdin = tty || flags.interactive || !process.stdin.isTTY
    const timeoutMs = flags.timeout === undefined ? undefined : flags.timeout * 1000
    const nests = await this.nests()
    const name = await this.nestName(flags.name)
    const code = await withTerminal({tty, attachStdin}, (io) => nests.exec(name, level, cmd, {...io, timeoutMs}))
    this.exit(code)
  }
}
