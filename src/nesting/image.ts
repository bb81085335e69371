import {execa} from 'execa'
import {createHash} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Engine} from './engine.js'
import {UsageError} from './errors.js'
import {IMAGE_CONTEXT_DIR, VERSION} from './version.js'

export const DEFAULT_BASE_IMAGE = 'debian:bookworm-slim'
/** What a base bootstrapped from Debian's packages is called in the engine. */
export const BOOTSTRAPPED_BASE_IMAGE = 'inception-base:bookworm'
const PULL_TIMEOUT_MS = 60_000
/** The image's label holding the hash of the image/ folder it was built from. */
export const CONTEXT_LABEL = 'io.inception.context'

/** A hash of every file under `dir` (names, modes and contents), in a stable order. */
export function contextHash(dir: string): string {
  const hash = createHash('sha256')
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(current, entry.name)
      if (entry.isDirectory()) walk(path)
      else {
        hash.update(`${relative(dir, path)}\0${statSync(path).mode & 0o777}\0`)
        hash.update(readFileSync(path))
      }
    }
  }
  walk(dir)
  return hash.digest('hex').slice(0, 16)
}

export type BaseSource = 'present' | 'pulled' | 'bootstrapped'

/**
 * Builds the level image: Debian bookworm, dockerd and its tools, the init. The base comes from
 * the engine if present, else from a registry, else (no registry, as on an offline machine) from
 * Debian's packages with debootstrap, which needs root on the machine that runs the CLI.
 */
export class ImageBuilder {
  readonly contextDir = fileURLToPath(IMAGE_CONTEXT_DIR)

  constructor(private readonly engine: Engine) {}

  /**
   * Whether `tag` was built from the image/ folder as it is now. A version tag alone is not
   * enough: a changed init under the same version must not be reused (nor tested) by mistake.
   */
  async upToDate(tag: string): Promise<boolean> {
    const labels = await this.engine.imageLabels(tag)
    return labels !== undefined && labels[CONTEXT_LABEL] === contextHash(this.contextDir)
  }

  /** Makes the base available; returns the reference to build FROM and where it came from. */
  async ensureBase(base: string, onLine: (line: string) => void): Promise<{reference: string; source: BaseSource}> {
    if (await this.engine.imageExists(base)) return {reference: base, source: 'present'}
    const isDefault = base === DEFAULT_BASE_IMAGE
    if (isDefault && (await this.engine.imageExists(BOOTSTRAPPED_BASE_IMAGE))) {
      return {reference: BOOTSTRAPPED_BASE_IMAGE, source: 'present'}
    }
    onLine(`pulling ${base}`)
    if (await this.engine.pullImage(base, PULL_TIMEOUT_MS)) return {reference: base, source: 'pulled'}
    if (!isDefault) {
      throw new UsageError(
        `base image ${base} is not in the engine and cannot be pulled`,
        `load it into the engine, or use the default --base ${DEFAULT_BASE_IMAGE}, which can be bootstrapped offline`,
      )
    }
    onLine('no registry answers: bootstrapping bookworm from Debian packages')
    const dir = mkdtempSync(join(tmpdir(), 'inception-base-'))
    try {
      const tar = join(dir, 'rootfs.tar')
      const script = join(this.contextDir, 'bootstrap-base.sh')
      const child = execa('sh', [script, tar, 'bookworm'], {all: true, reject: false})
      child.all?.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(onLine))
      const result = await child
      if (result.exitCode !== 0) {
        throw new UsageError(`bootstrapping the base image failed: ${String(result.all ?? '').trim().split('\n').pop()}`, 'run as root on Debian with debootstrap installed (sh scripts/ensure-engine.sh installs it)')
      }
      await this.engine.importImage(tar, BOOTSTRAPPED_BASE_IMAGE)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    return {reference: BOOTSTRAPPED_BASE_IMAGE, source: 'bootstrapped'}
  }

  /**
   * Builds `tag` unless it is up to date with image/ (or `force`): the base first (present,
   * pulled or bootstrapped), then the image. Says which it did.
   */
  async ensure(tag: string, base: string, options: {force?: boolean; onBase?: (line: string) => void; onBuild?: (line: string) => void} = {}): Promise<'reused' | BaseSource> {
    if (!options.force && (await this.upToDate(tag))) return 'reused'
    const {reference, source} = await this.ensureBase(base, options.onBase ?? (() => undefined))
    await this.build(tag, reference, options.onBuild ?? (() => undefined))
    return source
  }

  async build(tag: string, baseReference: string, onLine: (line: string) => void): Promise<void> {
    await this.engine.buildImage(this.contextDir, tag, {BASE_IMAGE: baseReference, INCEPTION_VERSION: VERSION, INCEPTION_CONTEXT: contextHash(this.contextDir)}, onLine)
  }
}
