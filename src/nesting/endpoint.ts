import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {UsageError} from './errors.js'

/**
 * Which engine to talk to, decided the way the docker CLI decides it: an explicit --context,
 * else DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else DOCKER_CONTEXT, else the
 * current context of the CLI's config, else the local socket. Contexts are read from the docker
 * CLI's own store (~/.docker/contexts, or $DOCKER_CONFIG/contexts).
 */
export interface EngineEndpoint {
  /** As a user would write it: unix:///var/run/docker.sock, tcp://127.0.0.1:2376, ssh://user@host. */
  address: string
  /** Where it came from, for messages: "DOCKER_HOST", "context ci", "the default socket". */
  source: string
  tls?: {ca: string; cert: string; key: string; verify: boolean}
}

/** The docker CLI's configuration folder: $DOCKER_CONFIG, else ~/.docker. */
export function configDir(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG && env.DOCKER_CONFIG.length > 0 ? env.DOCKER_CONFIG : join(homedir(), '.docker')
}

function readTlsFolder(folder: string, verify: boolean, what: string): EngineEndpoint['tls'] {
  const read = (file: string) => {
    const path = join(folder, file)
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new UsageError(
        `${what}: ${path} ${existsSync(path) ? 'cannot be read' : 'is missing'} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        'point it at a readable folder with ca.pem, cert.pem and key.pem',
      )
    }
  }
  return {ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify}
}

function fromContext(name: string, env: NodeJS.ProcessEnv): EngineEndpoint {
  if (name === 'default') return fromHostVariables({...env, DOCKER_HOST: ''})
  const id = createHash('sha256').update(name).digest('hex')
  const store = join(configDir(env), 'contexts')
  const metaPath = join(store, 'meta', id, 'meta.json')
  if (!existsSync(metaPath)) {
    throw new UsageError(`unknown docker context "${name}"`, 'see the contexts with `docker context ls`, or create one with `docker context create`')
  }
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as {Endpoints?: {docker?: {Host?: string; SkipTLSVerify?: boolean}}}
  const docker = meta.Endpoints?.docker
  if (!docker?.Host) throw new UsageError(`docker context "${name}" has no docker endpoint`, 'recreate it with `docker context create NAME --docker host=...`')
  const tlsFolder = join(store, 'tls', id, 'docker')
  return {
    address: docker.Host,
    source: `context ${name}`,
    tls: existsSync(join(tlsFolder, 'key.pem')) ? readTlsFolder(tlsFolder, !docker.SkipTLSVerify, `docker context "${name}"`) : undefined,
  }
}

function fromHostVariables(env: NodeJS.ProcessEnv): EngineEndpoint {
  if (!env.DOCKER_HOST) return {address: 'unix:///var/run/docker.sock', source: 'the default socket'}
  const verify = env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '' && env.DOCKER_TLS_VERIFY !== '0'
  const certPath = env.DOCKER_CERT_PATH || (verify ? configDir(env) : undefined)
  return {
    address: env.DOCKER_HOST,
    source: 'DOCKER_HOST',
    tls: certPath ? readTlsFolder(certPath, verify, `DOCKER_CERT_PATH ${certPath}`) : undefined,
  }
}

export function resolveEndpoint(context: string | undefined, env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  if (context) return fromContext(context, env)
  if (env.DOCKER_HOST) return fromHostVariables(env)
  if (env.DOCKER_CONTEXT) return fromContext(env.DOCKER_CONTEXT, env)
  const configPath = join(configDir(env), 'config.json')
  if (existsSync(configPath)) {
    const current = (JSON.parse(readFileSync(configPath, 'utf8')) as {currentContext?: string}).currentContext
    if (current && current !== 'default') return fromContext(current, env)
  }
  return fromHostVariables(env)
}

/** dockerode's options for an endpoint. */
export function dockerodeOptions(endpoint: EngineEndpoint): Record<string, unknown> {
  const url = new URL(endpoint.address)
  switch (url.protocol) {
    case 'unix:':
      return {socketPath: url.pathname}
    case 'tcp:':
    case 'http:':
    case 'https:': {
      const tls = endpoint.tls
      return {
        protocol: tls || url.protocol === 'https:' ? 'https' : 'http',
        host: url.hostname,
        port: url.port || (tls ? '2376' : '2375'),
        ...(tls ? {ca: tls.ca, cert: tls.cert, key: tls.key, ...(tls.verify ? {} : {checkServerIdentity: () => undefined, rejectUnauthorized: false})} : {}),
      }
    }
    case 'ssh:':
      // docker-modem runs `docker system dial-stdio` on the remote host over ssh2, with the agent.
      // It also formats each request's URL as "ssh:HOST:PORTHOST" and parses it back (only the
      // path is used), and Node warns of that invalid URL (DEP0170) on stderr in every command:
      // the CLI's one line would come with two lines of Node's. Deprecations are not the user's.
      process.noDeprecation = true
      return {
        protocol: 'ssh',
        host: url.hostname,
        port: url.port || '22',
        username: url.username || undefined,
        sshOptions: {agent: process.env.SSH_AUTH_SOCK},
      }
    default:
      throw new UsageError(`engine address ${endpoint.address} (from ${endpoint.source}) is not unix://, tcp:// or ssh://`, 'fix DOCKER_HOST or the context')
  }
}

/**
 * Whether an engine address is this machine's own engine: its files, its network, its ports. A
 * unix socket is, unless it is a level's socket of a nest (FOLDER/NEST/level-K.sock, sockets.ts):
 * that engine runs in a level, with the level's own network and files (a nest in a nest).
 */
export function isThisMachine(address: string): boolean {
  return address.startsWith('unix://') && !/\/level-\d+\.sock$/.test(address)
}
