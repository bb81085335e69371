import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {Writable} from 'node:stream'

import {BOARD_READ_SCRIPT, BOARD_WATCH_SCRIPT, boardsOfWatch, type LevelReport, parseBoard} from './board.js'
import {BOARD_DIR, EXEC_MARK_VARIABLE, levelName} from './contract.js'
import type {NestRecord} from './record.js'
import type {NestDirectory} from './directory.js'
import {isThisMachine} from './endpoint.js'
import {Capture, type Engine, type EngineConnector, type ExecIo} from './engine.js'
import {DaemonsNotExposed, Interrupted, LevelFailed} from './errors.js'
import {shortcutCommand} from './nsenter-path.js'
import {clientFolderExists, readClientMaterial} from './tls.js'

/** How a client on this machine reaches one level's engine directly: its socket, or its mutual TLS port. */
export interface DaemonEndpoint {
  level: number
  /** DOCKER_HOST: unix:///FOLDER/level-K.sock, or tcp://127.0.0.1:PORT. */
  host: string
  /** The client certificate folder (DOCKER_CERT_PATH), for the TLS port only. */
  certPath?: string
  /** Why this route, for users: the socket of a local engine, or TLS and why not a socket. */
  route: string
  /**
   * Where ports published at this level answer from this machine (testcontainers'
   * TESTCONTAINERS_HOST_OVERRIDE): level 1's address on a local engine; undefined where no
   * address of this machine's reaches them (deeper levels, a remote engine).
   */
  portsHost?: string
}

/**
 * Reaching into a nest's levels: commands, logs, the status board, and level engines' addresses.
 * Level K is reached through level K-1's engine directly over its TLS port when the nest exposes
 * its daemons; else commands enter level K from level 1 in one step (nsenter-path.ts), and logs are
 * read by an exec into level 1 that runs `docker exec` down the chain.
 */
export class LevelAccess {
  constructor(
    private readonly directory: NestDirectory,
    /** How a level's engine is dialled over its TLS port (the dockerode adapter's, or a test's own). */
    private readonly connect: EngineConnector,
  ) {}

  private get engine(): Engine {
    return this.directory.engine
  }

  /**
   * Runs CMD at level K and returns its exit status. An engine never ends an exec's process when
   * its caller goes (it has no such API): a command that times out, or whose CLI gets SIGINT or
   * SIGTERM, is ended here, at its level, with whatever it started (they carry its mark).
   */
  async exec(name: string, level: number, cmd: string[], io: ExecIo): Promise<number> {
    const record = await this.directory.findRunning(name, level)
    const parent = await this.parentEngine(record, level)
    const mark = randomBytes(8).toString('hex')
    const marked: ExecIo = {...io, env: [...(io.env ?? []), `${EXEC_MARK_VARIABLE}=${mark}`]}
    const signalled = new AbortController()
    const onSignal = () => signalled.abort()
    // Rejects once a signal came: the command is then ended at its level (the catch below).
    const interrupted = new Promise<never>((_, reject) => {
      signalled.signal.addEventListener('abort', () => reject(new Interrupted(`\`${cmd.join(' ')}\` at level ${level} was ended`)))
    })
    // on, not once: see upWithProgress (a once listener lets signal-exit re-raise the signal).
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      const run = async () => {
        if (parent) return parent.exec(levelName(name, level), cmd, marked)
        const mode = {interactive: io.stdin !== undefined, tty: io.tty ?? false}
        const command = level === 1 ? cmd : shortcutCommand(name, level, cmd, mode)
        return this.engine.exec(record.levelOne.id, command, marked)
      }
      return await Promise.race([run(), interrupted])
    } catch (error) {
      const timedOut = (error as NodeJS.ErrnoException).code === 'ETIMEDOUT' && io.timeoutMs !== undefined
      if (timedOut || error instanceof Interrupted) await this.endMarked(record.levelOne.id, mark)
      if (!timedOut || io.timeoutMs === undefined) throw error
      throw new LevelFailed(
        level,
        `\`${cmd.join(' ')}\` did not finish within ${io.timeoutMs / 1000}s`,
        await this.logTail(name, level, 10),
        'the command was ended, the nest is still up; give more --timeout, or look at the level with `inception logs`',
      )
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  }

  /** Ends every process of the nest that carries this exec's mark, seen from level 1, which sees every level's. */
  private async endMarked(levelOneId: string, mark: string): Promise<void> {
    // One grep over every process's environment a pass (no program per process, which on a deep
    // nest of a busy machine could outlast the exec's own time limit), repeated until a pass finds
    // nothing, for what a marked process started while the last pass ran.
    const script = `for pass in 1 2 3 4 5; do
  pids=$(grep -lzx "$1" /proc/[0-9]*/environ 2>/dev/null | sed -n 's#^/proc/\\([0-9]*\\)/environ$#\\1#p')
  [ -n "$pids" ] || exit 0
  kill -KILL $pids 2>/dev/null
done
exit 0`
    await this.engine
      .exec(levelOneId, ['sh', '-c', script, 'sh', `${EXEC_MARK_VARIABLE}=${mark}`], {stdout: new Capture(), stderr: new Capture(), timeoutMs: 10_000})
      .catch(() => undefined)
  }

  /** Level K's output: its init's and its dockerd's, as its parent's engine keeps them. */
  async logs(name: string, level: number, options: {follow: boolean; tail?: number}, out: Writable, err: Writable, timeoutMs?: number): Promise<void> {
    const record = await this.directory.findLevel(name, level)
    if (level === 1) return this.engine.logs(record.levelOne.id, options, out, err)
    const parent = await this.parentEngine(record, level)
    if (parent) return parent.logs(levelName(name, level), options, out, err)
    const logsCmd = [
      'docker',
      'logs',
      ...(options.follow ? ['--follow'] : []),
      ...(options.tail ? ['--tail', String(options.tail)] : []),
      levelName(name, level),
    ]
    await this.engine.exec(record.levelOne.id, chainCommand(name, level - 1, logsCmd, {interactive: false, tty: false}), {stdout: out, stderr: err, timeoutMs})
  }

  /** The last lines of a level's output (its init and dockerd), or '' when they cannot be read. */
  async logTail(name: string, level: number, lines = 20): Promise<string> {
    const out = new Capture()
    try {
      await this.logs(name, level, {follow: false, tail: lines}, out, out, 5000)
    } catch {
      return ''
    }
    return out.text()
  }

  /** Every level's state and details, in one exec into level 1. */
  async readBoard(levelOneId: string, depth: number, timeoutMs = 5000): Promise<LevelReport[]> {
    const out = new Capture()
    await this.engine.exec(levelOneId, ['sh', '-c', BOARD_READ_SCRIPT], {stdout: out, stderr: new Capture(), timeoutMs})
    return parseBoard(out.text(), depth)
  }

  /**
   * Follows every level's state and details while the levels start: one exec into level 1
   * (BOARD_WATCH_SCRIPT) hands each board to onBoard as it changes, until every level is ready,
   * one failed, or deadlineSeconds passed; resolves with the watch's exit status. Not a read per
   * tick: through the archive API each read costs the engine a process of its own (dockerd
   * re-executes itself to write the tar), through an exec a runtime call, and both take from the
   * levels the processor they start on.
   */
  async watchBoard(levelOneId: string, depth: number, deadlineSeconds: number, onBoard: (reports: LevelReport[]) => void): Promise<number> {
    let pending = ''
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const {boards, rest} = boardsOfWatch(pending + chunk.toString('utf8'), depth)
        pending = rest
        for (const board of boards) onBoard(board)
        done()
      },
    })
    const cmd = ['sh', '-c', BOARD_WATCH_SCRIPT, 'board-watch', String(depth), String(deadlineSeconds)]
    return this.engine.exec(levelOneId, cmd, {stdout, stderr: new Capture(), timeoutMs: (deadlineSeconds + 5) * 1000})
  }

  /** One file of the nest's board as it is now (undefined when it is not there), read through the archive API. */
  async readBoardFile(name: string, file: string): Promise<string | undefined> {
    const record = await this.directory.findRunning(name)
    return (await this.engine.readFiles(record.levelOne.id, BOARD_DIR))?.[file]
  }

  /** Writes one file on the nest's board (level 1 owns it; every level sees it). */
  async writeBoard(name: string, file: string, content: string): Promise<void> {
    const record = await this.directory.findRunning(name)
    const code = await this.engine.exec(record.levelOne.id, ['sh', '-c', 'printf %s "$2" > "$1"', 'sh', `${BOARD_DIR}/${file}`, content], {
      stdout: new Capture(),
      stderr: new Capture(),
      timeoutMs: 5000,
    })
    if (code !== 0) throw new LevelFailed(1, `could not write ${file} on the board (exit ${code})`)
  }

  /** What `inception env --level K` prints: level K's engine address (its socket, else its TLS port) and what else a client needs. */
  async daemonEndpoint(name: string, level: number, {tls = false} = {}): Promise<DaemonEndpoint> {
    const record = await this.directory.findLevel(name, level)
    const local = isThisMachine(this.engine.address)
    const found = (await this.directory.levelEndpoints(record)).get(level)
    if (tls && !record.daemonsExposed) throw new DaemonsNotExposed(name, 'it was started without --expose-daemons, the mutual TLS route that --tls asks for')
    // The TLS route asked for, where the level has a socket too.
    const endpoint = tls && found ? (found.tlsHost ? {host: found.tlsHost, tls: true} : undefined) : found
    if (!endpoint && !record.daemonsExposed) {
      const why = local
        ? 'it has no sockets on this machine (--sockets none) and was started without --expose-daemons'
        : `its engine, ${this.engine.address}, is not on this machine, where sockets would be, and it was started without --expose-daemons`
      throw new DaemonsNotExposed(name, why)
    }
    if (!endpoint) throw new LevelFailed(level, 'its engine port is not published (is level 1 running?)')
    const portsHost = level === 1 && local ? (await this.engine.inspectContainer(record.levelOne.id))?.addresses[0] : undefined
    if (!endpoint.tls) {
      const socket = endpoint.host.slice('unix://'.length)
      if (!existsSync(socket)) throw new LevelFailed(level, `its socket ${socket} is not there (is the level running? see \`inception ps\`)`)
      return {level, host: endpoint.host, route: `its socket on this machine`, portsHost}
    }
    const certPath = await this.directory.certificateFolder(name)
    if (!clientFolderExists(certPath))
      throw new LevelFailed(level, `the client certificate is missing from ${certPath} (the nest was started on another machine?)`)
    const why = tls ? 'asked for with --tls' : local ? 'the nest has no sockets (--sockets none)' : `its engine, ${this.engine.address}, is not on this machine`
    return {level, host: endpoint.host, certPath, route: `mutual TLS on its port (no socket: ${why})`, portsHost}
  }

  /**
   * The engine that runs level K's container (level K-1's), reached directly over its TLS port
   * when the nest exposes its daemons: one hop instead of K-1 chained execs (measured at level 3:
   * 2.5 ms for an API call against some 200 ms for `docker ps` through the chain).
   */
  private async parentEngine(record: NestRecord, level: number): Promise<Engine | undefined> {
    if (level < 2 || !record.daemonsExposed) return undefined
    const host = (await this.directory.daemonAddresses(record)).get(level - 1)
    const certPath = await this.directory.certificateFolder(record.name)
    if (!host || !clientFolderExists(certPath)) return undefined
    const material = readClientMaterial(certPath)
    return this.connect({address: host, source: `level ${level - 1} of nest ${record.name}`, tls: {...material, verify: true}}).catch(() => undefined)
  }
}

/**
 * The command that level 1 runs to reach level K: `docker exec` into level 2, which runs
 * `docker exec` into level 3, and so on. -i and -t are passed at every hop so stdin and the
 * terminal reach the innermost command.
 */
export function chainCommand(name: string, level: number, cmd: string[], mode: {interactive: boolean; tty: boolean}): string[] {
  const hop = ['docker', 'exec', ...(mode.interactive ? ['-i'] : []), ...(mode.tty ? ['-t'] : [])]
  const chain: string[] = []
  for (let k = 2; k <= level; k++) chain.push(...hop, levelName(name, k))
  return [...chain, ...cmd]
}

/** The init's own last word on why a level failed ("inception-init[level K]: error: ..."). */
export function initError(logTail: string): string | undefined {
  const errors = [...logTail.matchAll(/inception-init\[level \d+\]: error: (.+)/g)]
  return errors.at(-1)?.[1]?.trim()
}
