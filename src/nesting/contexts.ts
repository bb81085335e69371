import {createHash} from 'node:crypto'
import {chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {configDir} from './endpoint.js'
import {ContextsUnwritable, ContextTaken} from './errors.js'
import {whyCannotMake} from './folders.js'
import type {NestStatus} from './status.js'

/**
 * A docker context per level, written in docker/cli's own store ($DOCKER_CONFIG/contexts, else
 * ~/.docker/contexts): meta/<sha256 of the name>/meta.json, and for the TLS route the client's
 * files in tls/<sha256 of the name>/docker/ (folders 0700, files 0600). So the stock CLI works with
 * `docker --context inception-NEST-lK ...`, and no docker CLI is needed to write them. Each one
 * records in its metadata the nest and the engine it belongs to: `down` removes only those, and a
 * context of the same name that inception did not write is never overwritten (`up` refuses first).
 */

export const contextName = (nest: string, level: number) => `inception-${nest}-l${level}`

/** Where a level's context points: its socket, or its TLS port with the client's certificate folder. */
export interface ContextEndpoint {
  level: number
  host: string
  certPath?: string
}

/** Each level's context endpoint, from a nest's status: its socket, or its TLS port with the client's certificates in CERT_PATH. */
export function contextEndpoints(status: NestStatus, certPath: string): ContextEndpoint[] {
  return status.levels.flatMap(({level, endpoint}) =>
    endpoint ? [{level, host: endpoint, certPath: endpoint.startsWith('unix://') ? undefined : certPath}] : [],
  )
}

/** What marks a context as inception's, in its metadata beside the description. */
interface Owner {
  nest: string
  level: number
  engine: string
}

interface ContextMeta {
  Name: string
  Metadata: {Description?: string; inception?: Owner}
  Endpoints: {docker?: {Host: string; SkipTLSVerify: boolean}}
}

const store = (env: NodeJS.ProcessEnv) => join(configDir(env), 'contexts')
const contextId = (name: string) => createHash('sha256').update(name).digest('hex')

function readMeta(path: string): ContextMeta | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ContextMeta
  } catch {
    return undefined
  }
}

/** Refuses, before anything is made, a store that cannot be written, and a context name of the nest's levels that someone else's context holds. */
export function checkContextsFree(nest: string, depth: number, engine: string, env: NodeJS.ProcessEnv = process.env): void {
  const why = whyCannotMake(join(store(env), 'meta'))
  if (why) throw new ContextsUnwritable(store(env), why)
  for (let level = 1; level <= depth; level++) {
    const name = contextName(nest, level)
    const path = join(store(env), 'meta', contextId(name), 'meta.json')
    if (!existsSync(path)) continue
    const owner = readMeta(path)?.Metadata?.inception
    // One an earlier nest of this name on this engine left (its `down` ran elsewhere) is ours to replace.
    if (owner?.nest !== nest || owner.engine !== engine) throw new ContextTaken(name, path)
  }
}

/** Writes a context for each level given; a store that fails meanwhile is a ContextsUnwritable. */
export function writeContexts(nest: string, engine: string, endpoints: ContextEndpoint[], env: NodeJS.ProcessEnv = process.env): void {
  try {
    writeEach(nest, engine, endpoints, env)
  } catch (error) {
    throw new ContextsUnwritable(store(env), (error as Error).message)
  }
}

function writeEach(nest: string, engine: string, endpoints: ContextEndpoint[], env: NodeJS.ProcessEnv): void {
  for (const {level, host, certPath} of endpoints) {
    const name = contextName(nest, level)
    const id = contextId(name)
    const meta: ContextMeta = {
      Name: name,
      Metadata: {Description: `level ${level} of inception nest "${nest}"`, inception: {nest, level, engine}},
      Endpoints: {docker: {Host: host, SkipTLSVerify: false}},
    }
    const metaDir = join(store(env), 'meta', id)
    mkdirSync(metaDir, {recursive: true, mode: 0o755})
    writeFileSync(join(metaDir, 'meta.json'), JSON.stringify(meta), {mode: 0o644})
    const tlsDir = join(store(env), 'tls', id)
    rmSync(tlsDir, {recursive: true, force: true})
    if (certPath === undefined) continue
    mkdirSync(join(tlsDir, 'docker'), {recursive: true, mode: 0o700})
    chmodSync(tlsDir, 0o700)
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) {
      copyFileSync(join(certPath, file), join(tlsDir, 'docker', file))
      chmodSync(join(tlsDir, 'docker', file), 0o600)
    }
  }
}

/**
 * Removes the contexts of a nest on an engine; where the docker CLI's current context was one of
 * them, it goes back to the default. Returns the names removed.
 */
export function removeContexts(nest: string, engine: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const metaRoot = join(store(env), 'meta')
  if (!existsSync(metaRoot)) return []
  const removed: string[] = []
  for (const id of readdirSync(metaRoot)) {
    const meta = readMeta(join(metaRoot, id, 'meta.json'))
    const owner = meta?.Metadata?.inception
    if (!meta || owner?.nest !== nest || owner.engine !== engine) continue
    rmSync(join(metaRoot, id), {recursive: true, force: true})
    rmSync(join(store(env), 'tls', id), {recursive: true, force: true})
    removed.push(meta.Name)
  }
  const configPath = join(configDir(env), 'config.json')
  if (removed.length > 0 && existsSync(configPath)) {
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as {currentContext?: string}
    if (config.currentContext !== undefined && removed.includes(config.currentContext)) {
      delete config.currentContext
      writeFileSync(configPath, `${JSON.stringify(config, null, '\t')}\n`)
    }
  }
  return removed
}
