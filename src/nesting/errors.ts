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

export class DaemonsNotExposed extends InceptionError {
  constructor(nest: string) {
    super(
      `nest "${nest}" does not expose its levels' engines`,
      `start it with \`inception up --expose-daemons\` (after \`inception down --name ${nest}\`), or use \`inception exec\``,
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
