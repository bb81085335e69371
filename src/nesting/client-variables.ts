import type {DaemonEndpoint} from './level-access.js'

/**
 * What a client on this machine needs in its environment to use one level's engine: the docker
 * CLI and compose (DOCKER_HOST, and DOCKER_TLS_VERIFY with DOCKER_CERT_PATH for the TLS route),
 * and testcontainers, which reads the same three and two of its own: where the ports its
 * containers publish answer (TESTCONTAINERS_HOST_OVERRIDE), and Ryuk, its reaper, off: Ryuk runs
 * from an image of its own, which no registry serves a nest that has none, and `down` removes
 * whatever a test run leaves at any level.
 */
export interface ClientVariables {
  set: Record<string, string>
  /** Variables a client must not keep from an earlier `env` (a TLS setting beside a socket). */
  unset: string[]
  /** What a user should know, as comment lines. */
  notes: string[]
}

export const VARIABLE_FORMATS = ['shell', 'fish', 'json'] as const
export type VariableFormat = (typeof VARIABLE_FORMATS)[number]

export function clientVariables(endpoint: DaemonEndpoint): ClientVariables {
  const tls: Record<string, string> = endpoint.certPath === undefined ? {} : {DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: endpoint.certPath}
  const set: Record<string, string> = {
    DOCKER_HOST: endpoint.host,
    ...tls,
    ...(endpoint.portsHost ? {TESTCONTAINERS_HOST_OVERRIDE: endpoint.portsHost} : {}),
    TESTCONTAINERS_RYUK_DISABLED: 'true',
  }
  const unset = ['DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CONTEXT', 'TESTCONTAINERS_HOST_OVERRIDE'].filter((name) => !(name in set))
  const notes = endpoint.portsHost
    ? []
    : [
        `ports that containers publish at level ${endpoint.level} do not answer on this machine: only level 1's do, on a local engine, at level 1's address`,
        `(testcontainers' mapped ports included); publish through the nest instead: inception up -p HOST:PORT@${endpoint.level}`,
      ]
  return {set, unset, notes}
}

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`

/** The variables as a POSIX shell, fish or JSON reads them; `comment` goes on a comment line (not in JSON). */
export function formatVariables({set, unset, notes}: ClientVariables, format: VariableFormat, comment: string): string {
  if (format === 'json') return JSON.stringify(set, null, 2)
  const comments = [comment, ...notes].map((line) => `# ${line}`)
  const entries = Object.entries(set)
  if (format === 'fish') {
    return [...entries.map(([k, v]) => `set -gx ${k} ${quote(v)}`), ...(unset.length > 0 ? [`set -e ${unset.join(' ')}`] : []), ...comments].join('\n')
  }
  return [`export ${entries.map(([k, v]) => `${k}=${quote(v)}`).join(' ')}`, ...(unset.length > 0 ? [`unset ${unset.join(' ')}`] : []), ...comments].join('\n')
}
