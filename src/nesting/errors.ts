/**
 * Errors a user can act on. Each carries an exit code (documented in the README) and a hint
 * that says what to do next; the base command prints `message` and `hint` on one line.
 * Anything that is not an InceptionError is a bug and is reported with its stack.
 */
export const ExitCode = {
  usage: 2,
  engineUnreachable: 3,
  nestNotFound: 4,
  levelFailed: 5,
  conflict: 6,
  interrupted: 130,
} as const

export class InceptionError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** Bad input: a flag out of range, a malformed value. Nothing was created or removed. */
export class UsageError extends InceptionError {
  constructor(message: string, hint: string) {
    super(message, hint, ExitCode.usage)
  }
}

/**
 * A budget the engine would accept and then drop (dockerd only warns when its cgroups lack the
 * controller: a cgroup v2 without delegated controllers, say). Nothing was created.
 */
export class BudgetUnenforceable extends InceptionError {
  constructor(flag: string) {
    super(
      `${flag} cannot be enforced on this engine: its cgroups have no controller for it`,
      `leave ${flag} out, or use an engine whose cgroups have that controller (cgroup v1, or v2 with it delegated)`,
      ExitCode.usage,
    )
  }
}

export class EngineUnreachable extends InceptionError {
  constructor(address: string, cause: string) {
    super(
      `no Docker engine answers at ${address} (${cause})`,
      'start one (as root on Debian: sh scripts/ensure-engine.sh) or point DOCKER_HOST at a running engine',
      ExitCode.engineUnreachable,
    )
  }
}

export class NestNotFound extends InceptionError {
  constructor(nest: string) {
    super(`no nest named "${nest}"`, 'see the nests with `inception ps`, or start one with `inception up`', ExitCode.nestNotFound)
  }
}

export class NestExists extends InceptionError {
  constructor(nest: string) {
    super(`a nest named "${nest}" already exists`, `remove it with \`inception down --name ${nest}\`, or choose another --name`, ExitCode.conflict)
  }
}

export class LevelOutOfRange extends InceptionError {
  constructor(nest: string, level: number, depth: number) {
    super(`level ${level} is outside nest "${nest}", which has levels 1 to ${depth}`, `use --level between 1 and ${depth}`, ExitCode.usage)
  }
}

/** A level's engine has no way in from this machine: no socket (remote engine, or --sockets none) and no TLS port. */
export class DaemonsNotExposed extends InceptionError {
  constructor(nest: string, why = 'it was started with --sockets none and without --expose-daemons') {
    super(
      `nest "${nest}" has no way in to its levels' engines from this machine (${why})`,
      `start it again (\`inception down --name ${nest}\`) with sockets (the default on a local engine) or --expose-daemons, or use \`inception exec\``,
      ExitCode.conflict,
    )
  }
}

export class ImageMissing extends InceptionError {
  /** `buildCommand`: how to make the image, e.g. `inception build --suite forky`. */
  constructor(image: string, buildCommand = 'inception build') {
    super(`the level image ${image} is not in the engine`, `run \`${buildCommand}\` first`, ExitCode.conflict)
  }
}

export class NetworkMissing extends InceptionError {
  constructor(network: string) {
    super(`the network "${network}" does not exist on this engine`, `create it (docker network create ${network}), or leave --network out`, ExitCode.usage)
  }
}

/** An image `inception load` was asked to move is not on this engine. */
export class HostImageMissing extends InceptionError {
  constructor(image: string) {
    super(`image ${image} is not in this engine`, 'see `docker images`; pull, build or load it here first', ExitCode.conflict)
  }
}

export class PortTaken extends InceptionError {
  constructor(address: string, port: number, holder: string) {
    super(`port ${address}:${port} is already in use (${holder})`, 'choose another host port in -p HOST:INNER, or free this one', ExitCode.conflict)
  }
}

/** A level did not come up, or stopped answering. `logTail` is that level's dockerd/init output. */
export class LevelFailed extends InceptionError {
  constructor(
    readonly level: number,
    reason: string,
    readonly logTail = '',
    hint = 'the nest was rolled back; see the log lines below, or retry with --timeout if the machine is slow',
  ) {
    super(`level ${level} failed: ${reason}`, hint, ExitCode.levelFailed)
  }
}

/**
 * The engine refused to create or start level 1's container, for a reason none of the errors
 * above names: its own one-line message says why. Nothing of the nest is left.
 */
export class LevelOneRefused extends LevelFailed {
  constructor(step: 'create' | 'start', engineSays: string) {
    super(
      1,
      `the engine refused to ${step} its container: ${engineSays}`,
      '',
      'the nest was rolled back; if the engine names a setting, change the option that gives it (--privilege, --storage-driver, --data-root, --network, -p)',
    )
  }
}

export class Interrupted extends InceptionError {
  constructor(what: string) {
    super(`interrupted: ${what}`, 'nothing was left behind; run the command again when ready', ExitCode.interrupted)
  }
}

/** The folder this machine keeps a nest's client certificates in cannot be made. */
export class StateFolderUnusable extends InceptionError {
  constructor(folder: string, cause: string) {
    super(
      `cannot make the state folder ${folder} (${cause})`,
      'set XDG_STATE_HOME to a folder you can write (inception keeps its state in $XDG_STATE_HOME/inception), or leave out --expose-daemons',
      ExitCode.usage,
    )
  }
}

/** The folder for a nest's level sockets (--sockets) cannot be made. Nothing was created. */
export class SocketFolderUnusable extends InceptionError {
  constructor(folder: string, hint: string, cause?: string) {
    super(`cannot make the socket folder ${folder}${cause ? ` (${cause})` : ''}`, hint, ExitCode.usage)
  }
}

/** Sockets asked for (--sockets FOLDER) on an engine whose files are not this machine's. Nothing was created. */
export class SocketsNeedALocalEngine extends InceptionError {
  constructor(engineAddress: string, why = "it is reached over the network, so its files are not this machine's") {
    super(
      `--sockets needs an engine on this machine, and ${engineAddress} is not one (${why})`,
      "leave --sockets out (a remote engine's levels are reached with --expose-daemons and `inception env`), or give --sockets none",
      ExitCode.usage,
    )
  }
}

/** The docker CLI's context store cannot be written. */
export class ContextsUnwritable extends InceptionError {
  constructor(store: string, cause: string) {
    super(
      `cannot write docker contexts to ${store} (${cause})`,
      'set DOCKER_CONFIG to a folder you can write, or start the nest with --no-contexts',
      ExitCode.usage,
    )
  }
}

/** A docker context that inception did not write holds the name of a level's context. Nothing was created. */
export class ContextTaken extends InceptionError {
  constructor(name: string, path: string) {
    super(
      `the docker context "${name}" is not inception's (${path})`,
      `remove or rename it (docker context rm ${name}), start the nest with another --name, or with --no-contexts`,
      ExitCode.conflict,
    )
  }
}

/** --bind names an address this machine (or the engine's host) does not have. Nothing was created. */
export class BindAddressUnavailable extends InceptionError {
  constructor(address: string, where: string) {
    super(`--bind ${address} is not an address of ${where}`, 'give one of its addresses (see `ip -4 addr`), 127.0.0.1 (the default) or 0.0.0.0', ExitCode.usage)
  }
}

/** The image given to `up --image` is an image, but not one `inception build` made. */
export class NotALevelImage extends InceptionError {
  constructor(image: string, buildCommand: string) {
    super(
      `${image} is not an inception level image (it has no init to run the levels)`,
      `leave --image out to use the suite's level image, or give one made by \`${buildCommand}\``,
      ExitCode.usage,
    )
  }
}

/** A container that is not a nest's level 1 already has the name level 1 would get. Nothing was created. */
export class ContainerNameTaken extends InceptionError {
  constructor(container: string, nest: string) {
    super(
      `a container named ${container} is already on this engine, and it is not nest "${nest}"'s`,
      `remove it (docker rm -f ${container}) or choose another --name`,
      ExitCode.conflict,
    )
  }
}

/** The nest went away (`inception down`, a `docker rm`, a stop) while a command was using it. */
export class NestRemoved extends InceptionError {
  /** `during`: what was going on, e.g. "it was coming up", "`sleep 30` ran at level 2". */
  constructor(nest: string, during: string, hint = `see \`inception ps\`; start it again with \`inception up --name ${nest}\``) {
    super(`nest "${nest}" was removed or stopped while ${during}`, hint, ExitCode.nestNotFound)
  }
}

/**
 * The line dockerd wrote when it refused to start, from a level's log tail: its flag parser's
 * complaint ("unknown flag: --foo", "invalid logging level: nope") or its fatal log entry,
 * rather than containerd's chatter or the init's "see the log above".
 */
export function dockerdError(logTail: string): string | undefined {
  const lines = logTail.split('\n')
  const start = lines.findLastIndex((line) => /inception-init\[level \d+\]: starting dockerd/.test(line))
  if (start < 0) return undefined
  for (const raw of lines.slice(start + 1)) {
    const line = raw.trim()
    if (!line || line.startsWith('inception-init[') || line.startsWith("See 'dockerd --help'")) continue
    const logged = /\blevel=(\w+)\b.*?\bmsg="((?:[^"\\]|\\.)*)"/.exec(line)
    if (logged) {
      if (logged[1] === 'fatal' || logged[1] === 'error') return logged[2]!.replaceAll('\\"', '"')
      continue
    }
    // The docker CLI's framework prints flag errors as "Status: MESSAGE" with ", Code: N" on the next line.
    return line.replace(/^Status: /, '').replace(/,? ?Code: \d+$/, '')
  }
  return undefined
}

/**
 * A level's failure as the init reported it. When it was dockerd that refused to start (a bad
 * --dockerd-arg, most often), dockerd's own words say why: waiting longer would not help.
 */
export function levelFailure(level: number, reason: string, logTail: string): LevelFailed {
  const said = reason.includes('dockerd exited while starting') ? dockerdError(logTail) : undefined
  if (said === undefined) return new LevelFailed(level, reason, logTail)
  return new LevelFailed(
    level,
    `dockerd exited while starting: ${said}`,
    logTail,
    "the nest was rolled back; fix the dockerd option it names (--dockerd-arg), see the level's log below",
  )
}

/** A volume has the name level 1's data root would get, and inception did not make it for that nest. */
export class VolumeInTheWay extends InceptionError {
  constructor(volume: string, owner: string) {
    super(
      `a volume named "${volume}" is in the way (${owner})`,
      `remove it (docker volume rm ${volume}) if nothing in it is needed, or choose another --name`,
      ExitCode.conflict,
    )
  }
}

/** A level of a running nest is no longer running (its dockerd died, its container exited): what reached into it got nothing. */
export class LevelStopped extends InceptionError {
  /** `lost`: what the user did not get, e.g. "`sleep 30` at level 2 got no answer or was cut off". */
  constructor(nest: string, level: number, state: string, lost: string) {
    super(
      `level ${level} of nest "${nest}" is ${state}: ${lost}`,
      `see \`inception ps --name ${nest}\` and \`inception logs --name ${nest} --level ${level}\`; remove the nest with \`inception down --name ${nest}\``,
      ExitCode.levelFailed,
    )
  }
}
