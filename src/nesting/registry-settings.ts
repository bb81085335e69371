import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {join} from 'node:path'

import {UsageError} from './errors.js'

/**
 * The host's Docker settings that every level's engine needs to reach registries the way the
 * host does: registry mirrors, insecure registries, an HTTP(S) proxy, DNS servers and CA
 * certificates. By default a nest inherits them from the engine it runs on (its info: mirrors,
 * insecure registries, proxies; on this machine's own engine also the CA certificates of
 * /etc/docker/certs.d and the DNS of /etc/docker/daemon.json); a flag given replaces what is
 * inherited for that setting, and --no-inherit starts clean. They are entries of the settings
 * table (settings.ts), which says what each level receives.
 */
export interface RegistrySettings {
  mirrors: string[]
  insecure: string[]
  /** For http:// and https:// alike, as most tools take one proxy. */
  proxy?: string
  noProxy?: string
  dns: string[]
  /** CA certificates (PEM), trusted by every level's engine for registries and proxies. */
  caCerts: Array<{file: string; pem: string}>
}

export const NO_REGISTRY_SETTINGS: RegistrySettings = {mirrors: [], insecure: [], dns: [], caCerts: []}

/** What the engine it runs on tells of its own (EngineInfo's part). */
export interface EngineRegistrySettings {
  mirrors: string[]
  insecure: string[]
  httpProxy: string
  httpsProxy: string
  noProxy: string
}

const LOOPBACK_HINT =
  "no level reaches this machine's loopback: give an address of this machine that its engine's containers reach " +
  "(the engine bridge's gateway, e.g. 172.17.0.1), or a name on a network the nest joins (--network)"

/** A URL's host is on loopback (127.0.0.0/8, ::1, localhost). */
const onLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1'

function parseUrl(text: string, flag: string, example: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`${flag} ${text} is not a URL`, `write it like ${flag} ${example}`)
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hostname === '')
    throw new UsageError(`${flag} ${text} is not an http:// or https:// URL`, `write it like ${flag} ${example}`)
  if (onLoopback(url.hostname)) throw new UsageError(`${flag} ${text} is on this machine's loopback`, LOOPBACK_HINT)
  return url
}

export function parseRegistryMirror(text: string): string {
  return parseUrl(text, '--registry-mirror', 'http://mirror.example:5000').href.replace(/\/$/, '')
}

export function parseProxy(text: string): string {
  return parseUrl(text, '--proxy', 'http://proxy.example:3128').href.replace(/\/$/, '')
}

/** HOST[:PORT] or a CIDR, as dockerd's --insecure-registry takes them. */
export function parseInsecureRegistry(text: string): string {
  const hint = 'write it like --insecure-registry registry.example:5000 (a host and port, or a CIDR: 10.0.0.0/8)'
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:\d{1,5})?$/.test(text) && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(text))
    throw new UsageError(`--insecure-registry ${text} is not a host[:port] or a CIDR`, hint)
  if (onLoopback(text.split(':')[0]!)) throw new UsageError(`--insecure-registry ${text} is on this machine's loopback`, LOOPBACK_HINT)
  return text
}

/** A list of hosts, domains and CIDRs, comma-separated, as NO_PROXY takes it. */
export function parseNoProxy(text: string): string {
  if (!/^[\w.*:/[\]-]+(,[\w.*:/[\]-]+)*$/.test(text))
    throw new UsageError(`--no-proxy ${text} is not a comma-separated list`, 'write it like --no-proxy localhost,.internal,10.0.0.0/8')
  return text
}

export function parseDns(text: string): string {
  if (isIP(text) === 0) throw new UsageError(`--dns ${text} is not an IP address`, 'give the address of a DNS server, e.g. --dns 10.0.0.2')
  if (isIP(text) === 4 && text.startsWith('127.')) throw new UsageError(`--dns ${text} is on this machine's loopback`, LOOPBACK_HINT)
  return text
}

/** A CA certificate file, read now: a file that cannot be read, or holds no certificate, is refused before anything is made. */
export function parseCaCert(file: string): {file: string; pem: string} {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(
      `--ca-cert ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      'give the path of a PEM file with the CA certificate',
    )
  }
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)
  if (!certificates) throw new UsageError(`--ca-cert ${file} holds no PEM certificate`, 'give the path of a PEM file with the CA certificate')
  return {file, pem: `${certificates.join('\n')}\n`}
}

/** What up was asked: each setting given by flag, undefined where left to inheritance. */
export interface RegistryInput {
  mirrors?: string[]
  insecure?: string[]
  proxy?: string
  noProxy?: string
  dns?: string[]
  caCerts?: Array<{file: string; pem: string}>
  inherit?: boolean
}

/**
 * The settings a nest gets: each given by flag, else inherited from the engine it runs on (unless
 * --no-inherit), else none. `local`: what this machine's own engine keeps in files (its CA
 * certificates per registry, its DNS), read only when the engine is this machine's.
 */
export function effectiveRegistrySettings(
  input: RegistryInput,
  engine: EngineRegistrySettings,
  local?: {caCerts: Array<{file: string; pem: string}>; dns: string[]},
): RegistrySettings {
  const inherit = input.inherit !== false
  // A setting the host's engine has, usable from inside: loopback values stay behind (no level reaches them).
  const usable = (values: string[]) => values.filter((value) => !onLoopback(value.replace(/^\w+:\/\//, '').split(/[:/]/)[0]!))
  const proxy = engine.httpsProxy || engine.httpProxy
  return {
    mirrors: input.mirrors ?? (inherit ? usable(engine.mirrors).map((m) => m.replace(/\/$/, '')) : []),
    insecure: input.insecure ?? (inherit ? usable(engine.insecure) : []),
    proxy: input.proxy ?? (inherit && proxy && usable([proxy]).length > 0 ? proxy : undefined),
    noProxy: input.noProxy ?? (inherit && engine.noProxy ? engine.noProxy : undefined),
    dns: input.dns ?? (inherit ? usable(local?.dns ?? []) : []),
    caCerts: input.caCerts ?? (inherit ? (local?.caCerts ?? []) : []),
  }
}

/** What this machine's engine keeps in files: /etc/docker/certs.d/HOST/*.crt and daemon.json's dns. */
export function localEngineFiles(dockerDir = '/etc/docker'): {caCerts: Array<{file: string; pem: string}>; dns: string[]} {
  const caCerts: Array<{file: string; pem: string}> = []
  const certsDir = join(dockerDir, 'certs.d')
  if (existsSync(certsDir)) {
    for (const host of readdirSync(certsDir)) {
      for (const file of readdirSync(join(certsDir, host)).filter((f) => f.endsWith('.crt'))) {
        try {
          caCerts.push(parseCaCert(join(certsDir, host, file)))
        } catch {
          // A file that is not a certificate is the engine's business, not the nest's.
        }
      }
    }
  }
  let dns: string[] = []
  try {
    const config = JSON.parse(readFileSync(join(dockerDir, 'daemon.json'), 'utf8')) as {dns?: unknown}
    if (Array.isArray(config.dns)) dns = config.dns.filter((d): d is string => typeof d === 'string' && isIP(d) !== 0)
  } catch {
    // No daemon.json, or not JSON: the engine starts with its defaults, and so does the nest.
  }
  return {caCerts, dns}
}

/** A proxy URL as labels and `ps` show it: without its credentials. */
export const withoutCredentials = (url: string) => url.replace(/\/\/[^@/]*@/, '//')
