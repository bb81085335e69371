import {execa} from 'execa'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Engine} from './engine.js'
import {UsageError} from './errors.js'
import {IMAGE_CONTEXT_DIR, VERSION} from './version.js'

export const DEFAULT_BASE_IMAGE = 'debian:bookworm-slim'
/** What a base bootstrapped from Debian's packages is called in the engine. */
export const BOOTSTRAPPED_BASE_IMAGE = 'inception-base:bookworm'
const PULL_TIMEOUT_MS = 60_000

export type BaseSource = 'present' | 'pulled' | 'bootstrapped'

/**
 * Builds the level image: Debian bookworm, dockerd and its tools, the init. The base comes from
 * the engine if present, else from a registry, else (no registry, as on an offline machine) from
 * Debian's packages with debootstrap, which needs root on the machine that runs the CLI.
 */
export class ImageBuilder {
  readonly contextDir = fileURLToPath(IMAGE_CONTEXT_DIR)

  constructor(private readonly engine: Engine) {}

  exists(tag: string): Promise<boolean> {
    return this.engine.imageExists(tag)
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

  async build(tag: string, baseReference: string, onLine: (line: string) => void): Promise<void> {
    await this.engine.buildImage(this.contextDir, tag, {BASE_IMAGE: baseReference, INCEPTION_VERSION: VERSION}, onLine)
  }
}
