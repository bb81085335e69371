import {
  BOARD_DIR,
  CAP_DROP_MARKER,
  CHILD_DATA_ROOT_PREFIX,
  daemonInnerPort,
  INNER_IMAGE_REPOSITORY,
  LABEL,
  LEVEL_DATA_DIR,
  levelName,
  PLAN_DIR,
  planFile,
  type PlanVariable,
  TLS_DIR,
} from './contract.js'
import type {ContainerSpec, HostSettings} from './engine.js'
import type {NestPlan} from './plan.js'
import {dockerRunFlags, hostSettingsFor, nestedPrivilege, type PrivilegeDecision} from './privilege.js'
import {levelOneLabels} from './record.js'
import {DEFAULT_BIND} from './request.js'
import {type LevelResources, levelParts, type Publish} from './settings.js'
import {formatCidr, POOL_NETWORK_PREFIX} from './subnets.js'
import {SUITE_DOCKERD_MAJOR} from './suites.js'
import {SERVER_FILE} from './tls.js'
import {VERSION} from './version.js'

/**
 * The one renderer of a level's container. Every level of a nest is rendered here, from the
 * plan and level 1's privilege decision, once, when `up` starts: level 1 goes to the host's engine
 * through its API (levelOneSpec); every level below it becomes a file of `docker run` arguments
 * (planFiles) that travels down the nest, and the level above runs it as it is. So a setting is
 * rendered in one place for every level, the levels need no round trip to the CLI (a nest keeps
 * coming up, and running, when the CLI is gone or the engine is remote), and no level composes a
 * container in shell. What a level decides for itself at run time is named in the contract.
 */

/** A level's container, and whether its parent adds the `--cap-drop`s its bounding set calls for. */
export interface RenderedLevel {
  spec: ContainerSpec
  dropWhatParentLacks: boolean
}

type SettingVariable =
  | 'INCEPTION_STORAGE_DRIVER'
  | 'INCEPTION_DATA_ROOT'
  | 'INCEPTION_MTU'
  | 'INCEPTION_HTTP_PROXY'
  | 'INCEPTION_NO_PROXY'
  | 'INCEPTION_CA_CERTS'
  | 'INCEPTION_PROC_VIEW'
  | 'INCEPTION_OOM_COUNT'

/** dockerd's `PATH` when none is set: the imported level image below level 1 carries no environment. */
const LEVEL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export function renderLevel(plan: NestPlan, decision: PrivilegeDecision, level: number): RenderedLevel {
  const {request} = plan
  const outermost = level === 1
  const name = levelName(request.name, level)
  const parts = levelParts(request, {level, depth: request.depth, bind: request.bind})
  const privilege = outermost
    ? {mode: decision.mode, host: hostSettingsFor(decision), dropWhatParentLacks: false}
    : nestedPrivilege(decision, request.privilege, SUITE_DOCKERD_MAJOR[request.suite])
  const levelPlan = plan.levels[level - 1]!
  const env: Record<PlanVariable, string> = {
    // What the settings table gives every level (settings.ts): its entries own these variables.
    ...(parts.env as Record<SettingVariable, string>),
    INCEPTION_NEST: request.name,
    INCEPTION_LEVEL: String(level),
    INCEPTION_DEPTH: String(request.depth),
    INCEPTION_VERSION: VERSION,
    INCEPTION_PRIVILEGE_USED: privilege.mode,
    INCEPTION_READY_TIMEOUT: String(request.readyTimeoutSeconds),
    // In level 1's environment rather than put into its container by an archive upload before it
    // starts: the upload made the host's engine re-execute itself (about 0.2 s, measured, of every `up`).
    INCEPTION_PLAN: outermost ? planText(plan, decision) : '',
    INCEPTION_DOCKERD_OPTIONS: [
      // Each level's own bridge and pool, all different: every dockerd would otherwise take the
      // first free /16 it sees, the levels would collide, and a chained port would answer the wrong bridge.
      `--bip=${levelPlan.bridge}`,
      `--default-address-pool=base=${formatCidr(levelPlan.pool)},size=${POOL_NETWORK_PREFIX}`,
      ...(request.exposeDaemons ? tlsListener(level) : []),
      ...parts.dockerd,
    ].join(' '),
  }
  const publish = [...parts.publish, ...daemonPorts(plan, level)]
  const portBindings = Object.fromEntries(
    publish.map((p) => [`${p.innerPort}/tcp`, [{HostIp: p.hostIp ?? '', HostPort: p.hostPort === undefined ? '' : String(p.hostPort)}]]),
  )
  const binds = outermost
    ? [`${name}:${LEVEL_DATA_DIR}`, ...parts.binds]
    : [
        // The parent's /usr, read-only: the Docker of every level, without an image copy per level.
        '/usr:/usr:ro',
        `${LEVEL_DATA_DIR}/${CHILD_DATA_ROOT_PREFIX}${level}:${LEVEL_DATA_DIR}`,
        `${BOARD_DIR}:${BOARD_DIR}`,
        ...(request.exposeDaemons ? [`${TLS_DIR}:${TLS_DIR}:ro`] : []),
        `${PLAN_DIR}:${PLAN_DIR}:ro`,
        ...parts.binds,
      ]
  return {
    spec: {
      name,
      image: outermost ? request.image : `${INNER_IMAGE_REPOSITORY}:${VERSION}`,
      env: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...(outermost ? [] : [`PATH=${LEVEL_PATH}`])],
      labels: outermost ? levelOneLabels(plan, decision) : {[LABEL.nest]: request.name, [LABEL.level]: String(level), [LABEL.version]: VERSION},
      exposedPorts: Object.keys(portBindings),
      host: {...privilege.host, binds, portBindings, ...bounds(parts.resources), ...(outermost && request.network ? {networkMode: request.network} : {})},
    },
    dropWhatParentLacks: privilege.dropWhatParentLacks,
  }
}

/** Level 1's container, for the host's engine. */
export function levelOneSpec(plan: NestPlan, decision: PrivilegeDecision): ContainerSpec {
  return renderLevel(plan, decision, 1).spec
}

/** The plan as level 1's init receives it (INCEPTION_PLAN): its files for levels 2..N in order, each followed by an empty line. */
export function planText(plan: NestPlan, decision: PrivilegeDecision): string {
  return Object.values(planFiles(plan, decision))
    .map(({content}) => `${content}\n`)
    .join('')
}

/** The plan's files: level K's `docker run` arguments, one a line, for every level below the first. */
export function planFiles(plan: NestPlan, decision: PrivilegeDecision): Record<string, {content: string; mode: number}> {
  const files: Record<string, {content: string; mode: number}> = {}
  for (let level = 2; level <= plan.request.depth; level++) {
    files[planFile(level)] = {content: `${dockerRunArguments(renderLevel(plan, decision, level)).join('\n')}\n`, mode: 0o644}
  }
  return files
}

/** A rendered level as `docker run` arguments, image last (CAP_DROP_MARKER where the parent adds its drops). */
export function dockerRunArguments({spec, dropWhatParentLacks}: RenderedLevel): string[] {
  const each = (flag: string, values: string[]) => values.flatMap((value) => [flag, value])
  const host = spec.host ?? {}
  const published = Object.entries(host.portBindings ?? {}).map(([port, [binding]]) => {
    const inner = port.split('/')[0]
    return [binding?.HostIp, binding?.HostPort, inner].filter((part) => part !== undefined && part !== '').join(':')
  })
  return [
    '--detach',
    '--name',
    spec.name!,
    ...each(
      '--label',
      Object.entries(spec.labels ?? {}).map(([k, v]) => `${k}=${v}`),
    ),
    ...each('--env', spec.env ?? []),
    ...each('--volume', host.binds ?? []),
    ...each('--publish', published),
    ...dockerRunFlags(host),
    ...boundFlags(host),
    ...(dropWhatParentLacks ? [CAP_DROP_MARKER] : []),
    spec.image,
  ]
}

/** A level's budget as its container's settings. Memory with no swap beyond it: a level over budget is killed, not swapped. */
function bounds(resources: LevelResources): HostSettings {
  return {
    ...(resources.memoryBytes === undefined ? {} : {memory: resources.memoryBytes, memorySwap: resources.memoryBytes}),
    ...(resources.cpus === undefined ? {} : {nanoCpus: Math.round(resources.cpus * 1e9)}),
    ...(resources.cpuset === undefined ? {} : {cpusetCpus: resources.cpuset}),
    ...(resources.pids === undefined ? {} : {pidsLimit: resources.pids}),
    ...(resources.devices === undefined ? {} : {devices: resources.devices}),
  }
}

/** The same as `docker run` flags. */
function boundFlags(host: HostSettings): string[] {
  return [
    ...(host.memory === undefined ? [] : ['--memory', String(host.memory), '--memory-swap', String(host.memorySwap ?? host.memory)]),
    ...(host.nanoCpus === undefined ? [] : ['--cpus', String(host.nanoCpus / 1e9)]),
    ...(host.cpusetCpus === undefined ? [] : ['--cpuset-cpus', host.cpusetCpus]),
    ...(host.pidsLimit === undefined ? [] : ['--pids-limit', String(host.pidsLimit)]),
    ...(host.devices ?? []).flatMap((device) => ['--device', device]),
  ]
}

/** The TLS listener of a level's engine (--expose-daemons): its own port, mutual TLS with the nest's CA. */
function tlsListener(level: number): string[] {
  return [
    `--host=tcp://0.0.0.0:${daemonInnerPort(level)}`,
    '--tlsverify',
    `--tlscacert=${TLS_DIR}/${SERVER_FILE.ca}`,
    `--tlscert=${TLS_DIR}/${SERVER_FILE.cert}`,
    `--tlskey=${TLS_DIR}/${SERVER_FILE.key}`,
  ]
}

/**
 * Each level's engine port (--expose-daemons), chained down to its level like a -p port. On the
 * host they stay on loopback whatever --bind says (it is for the -p ports), as `ps` and `env` print them.
 */
function daemonPorts({request}: NestPlan, level: number): Publish[] {
  if (!request.exposeDaemons) return []
  const ports: Publish[] = []
  for (let target = level; target <= request.depth; target++) {
    const innerPort = daemonInnerPort(target)
    if (level > 1) ports.push({innerPort, hostPort: innerPort})
    else ports.push({innerPort, hostIp: DEFAULT_BIND, hostPort: request.daemonHostPortBase === undefined ? undefined : request.daemonHostPortBase + target - 1})
  }
  return ports
}
