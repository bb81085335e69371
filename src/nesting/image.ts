import {createHash} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {IMAGE_LIB_DIR, LABEL, SEED_DIR} from './contract.js'
import type {Engine} from './engine.js'
import {UsageError} from './errors.js'
import {hostSettingsFor} from './privilege.js'
import {decidePrivilegeOnce, type PrivilegeCache, privilegeCacheFrom} from './privilege-cache.js'
import {baseImageForSuite, bootstrappedBaseForSuite, type Suite} from './suites.js'
import {IMAGE_CONTEXT_DIR, VERSION} from './version.js'

const PULL_TIMEOUT_MS = 60_000
/** A throwaway level imports two small images and writes them down: seconds, given minutes under load. */
const SEED_TIMEOUT_MS = 180_000
/** The image's label holding the hash of the image/ folder it was built from. */
export const CONTEXT_LABEL = LABEL.context
/** The image's label naming the Debian suite it was built from. */
export const SUITE_LABEL = LABEL.suite

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
 * Builds a level image: a Debian suite, dockerd and its tools, the init. The base comes from the
 * engine if present, else from a registry, else (no registry, as on an offline machine) from
 * Debian's packages with debootstrap, which needs root on the machine that runs the CLI.
 */
export class ImageBuilder {
  readonly contextDir = fileURLToPath(IMAGE_CONTEXT_DIR)

  constructor(
    private readonly engine: Engine,
    private readonly privilegeCache: PrivilegeCache = privilegeCacheFrom(),
  ) {}

  /**
   * Whether `tag` was built from the image/ folder as it is now, from `suite`. A version tag alone
   * is not enough: a changed init under the same version must not be reused (nor tested) by mistake.
   */
  async upToDate(tag: string, suite: Suite): Promise<boolean> {
    const labels = (await this.engine.inspectImage(tag))?.labels
    // The cheap comparison first: the context hash reads every file of image/.
    return labels?.[SUITE_LABEL] === suite && labels[CONTEXT_LABEL] === contextHash(this.contextDir)
  }

  /**
   * Makes the base available; returns the reference to build FROM and where it came from. `base`
   * is the user's own base image; without one, the suite's Debian image, else its bootstrap.
   */
  async ensureBase(suite: Suite, base: string | undefined, onLine: (line: string) => void): Promise<{reference: string; source: BaseSource}> {
    const wanted = base ?? baseImageForSuite(suite)
    if (await this.engine.imageExists(wanted)) return {reference: wanted, source: 'present'}
    const bootstrapped = bootstrappedBaseForSuite(suite)
    if (base === undefined && (await this.engine.imageExists(bootstrapped))) return {reference: bootstrapped, source: 'present'}
    onLine(`pulling ${wanted}`)
    const pull = await this.engine.pullImage(wanted, PULL_TIMEOUT_MS)
    if (pull.ok) return {reference: wanted, source: 'pulled'}
    if (base !== undefined) {
      throw new UsageError(
        `base image ${base} is not in the engine and cannot be pulled (${pull.error})`,
        `load it into the engine, or leave --base out: the ${suite} base can be bootstrapped offline`,
      )
    }
    onLine(`pull of ${wanted} failed (${pull.error}): bootstrapping ${suite} from Debian's packages`)
    const dir = mkdtempSync(join(tmpdir(), 'inception-base-'))
    try {
      const tar = join(dir, 'rootfs.tar')
      const script = join(this.contextDir, 'bootstrap-base.sh')
      // Loaded here, the one place that runs a program: it adds about 140 ms to every command's start.
      const {execa} = await import('execa')
      const child = execa('sh', [script, tar, suite], {all: true, reject: false})
      child.all?.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(onLine))
      const result = await child
      if (result.exitCode !== 0) {
        throw new UsageError(
          `bootstrapping the ${suite} base image failed: ${String(result.all ?? '')
            .trim()
            .split('\n')
            .pop()}`,
          'run as root on Debian with debootstrap installed (sh scripts/ensure-engine.sh installs it)',
        )
      }
      await this.engine.importImage(tar, bootstrapped)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    return {reference: bootstrapped, source: 'bootstrapped'}
  }

  /**
   * Builds `tag` from `suite` unless it is up to date with image/ (or `force`): the base first
   * (present, pulled or bootstrapped), then the image. Says which it did.
   */
  async ensure(
    tag: string,
    suite: Suite,
    options: {force?: boolean; base?: string; onBase?: (line: string) => void; onBuild?: (line: string) => void} = {},
  ): Promise<'reused' | BaseSource> {
    if (!options.force && (await this.upToDate(tag, suite))) return 'reused'
    const {reference, source} = await this.ensureBase(suite, options.base, options.onBase ?? (() => undefined))
    await this.build(tag, suite, reference, options.onBuild ?? (() => undefined))
    return source
  }

  /**
   * Builds `tag`, then gives it its image seed. The image it replaces (some 500 MB) is removed
   * unless a container still uses it, so that rebuilding does not pile up untagged images.
   */
  async build(tag: string, suite: Suite, baseReference: string, onLine: (line: string) => void): Promise<void> {
    const previous = (await this.engine.inspectImage(tag))?.id
    try {
      await this.engine.buildImage(
        this.contextDir,
        tag,
        {BASE_IMAGE: baseReference, SUITE: suite, INCEPTION_VERSION: VERSION, INCEPTION_CONTEXT: contextHash(this.contextDir)},
        onLine,
      )
      try {
        await this.seed(tag, onLine)
      } catch (error) {
        onLine(`warning: no image seed (${(error as Error).message}); every level will import its images as it starts`)
      }
    } finally {
      if (previous && previous !== (await this.engine.inspectImage(tag))?.id) await this.engine.removeImage(previous)
    }
  }

  /**
   * Every level's engine needs two images before it can start the next level and serve its users
   * (the level image and busybox). Imported at level 1 once its engine answered, they cost 0.4 to
   * 1.1 s of every `up`; so the build imports them once, in a throwaway level of the new image
   * with level 1's privileges, and keeps that level's image store in the image as tars (the
   * image seed, about 4 MB), which level 1 unpacks while its engine starts. A seed that cannot
   * be made costs only that time: levels then import, as they did before, and the build says why.
   */
  private async seed(tag: string, onLine: (line: string) => void): Promise<void> {
    onLine('making the image seed: a throwaway level imports the level image and busybox')
    const {asDecided, key} = await decidePrivilegeOnce(this.engine, tag, 'auto', this.privilegeCache)
    const made = await this.engine.probe(
      {
        image: tag,
        env: ['INCEPTION_MAKE_SEED=1', `INCEPTION_VERSION=${VERSION}`],
        labels: {[LABEL.probe]: 'seed'},
        host: hostSettingsFor(asDecided),
      },
      SEED_TIMEOUT_MS,
      SEED_DIR,
    )
    if (!made.ok || made.archive === undefined) {
      throw new Error(made.error ?? (made.output.trim().split('\n').pop() || `the throwaway level ended with status ${String(made.exitCode)}`))
    }
    const dir = mkdtempSync(join(tmpdir(), 'inception-seed-'))
    try {
      // The engine's archive of SEED_DIR, which ADD unpacks into the folder's parent as it was.
      writeFileSync(join(dir, 'seed.tar'), made.archive)
      writeFileSync(join(dir, 'Dockerfile'), `FROM ${tag}\nADD seed.tar ${IMAGE_LIB_DIR}/\n`)
      await this.engine.buildImage(dir, tag, {}, onLine)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    // The seeded image runs as the one the decision was made for: the first `up` need not probe.
    // Same engine and host as the key the decision was kept under; only the image differs.
    const seeded = await this.engine.inspectImage(tag)
    if (key && seeded) await this.privilegeCache.put({...key, imageId: seeded.id}, asDecided)
  }
}

/*
 * Image references, checked before any request carries them: the engine answers a malformed one
 * with an error that says little ("HTTP code 301", "invalid reference format"), and Node refuses
 * to send one with a space at all ("Request path contains unescaped characters"). The grammar is
 * the docker CLI's (github.com/distribution/reference):
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port], host a DNS name, an IPv4 address or [IPv6]
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := "." | "_" | "__" | "-"+
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" hex{32,}
 * An image ID (hex, "sha256:" optional) is a reference too.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
const TAG = '[\\w][\\w.-]{0,127}'
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}'
const REFERENCE = new RegExp(`^(?<name>(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(?<tag>${TAG}))?(?:@(?<digest>${DIGEST}))?$`)
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{12,64}$/
const NAME_MAX = 255

/** Why TEXT is not an image reference, in a few words; undefined when it is one. */
export function imageReferenceProblem(text: string): string | undefined {
  if (text.length === 0) return 'it is empty'
  if (IMAGE_ID.test(text)) return undefined
  if (/\s/.test(text)) return 'it contains a space'
  if (text.startsWith('-')) return 'it starts with "-" (a flag?)'
  const match = REFERENCE.exec(text)
  if (!match) {
    // The most common slip, said plainly: a domain may have capitals, the repository may not.
    const repository = text.split('@')[0]!.replace(/:[\w.-]*$/, '')
    const path = repository.includes('/') && /[.:]|^localhost\//.test(repository.split('/')[0]!) ? repository.slice(repository.indexOf('/') + 1) : repository
    if (/[A-Z]/.test(path)) return 'repository names are lowercase'
    return 'it does not follow NAME[:TAG][@DIGEST]'
  }
  if (match.groups!.name!.length > NAME_MAX) return `its name is longer than ${NAME_MAX} characters`
  return undefined
}

/** TEXT as an image reference, or a usage error that names WHAT it was given as (`--image`, `an image to load`). */
export function parseImageReference(text: string, what: string): string {
  const problem = imageReferenceProblem(text)
  if (problem) {
    throw new UsageError(
      `${what} ${JSON.stringify(text)} is not an image reference: ${problem}`,
      'write it as NAME[:TAG] (lowercase, no spaces), e.g. myapp:1.0 or registry.example:5000/team/app:2, or give an image ID',
    )
  }
  return text
}
