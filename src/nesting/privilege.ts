import {CAPABILITY_NAMES, CAPS_SECURITY, LABEL, type SecurityOption} from './contract.js'
import type {ContainerSpec, Engine, HostSettings, Ulimit} from './engine.js'
import {LevelFailed, UsageError} from './errors.js'

/**
 * How much a level's container is allowed, so that dockerd can run in it.
 * - privileged: `--privileged`, the classic dind way; works on ordinary hosts.
 * - caps: every capability the engine's host allows, unconfined seccomp and AppArmor, unmasked
 *   system paths, every device through the device cgroup. For hosts whose capability bounding
 *   set lacks something (runc then refuses --privileged: "unable to apply caps").
 * - auto: privileged if a throwaway probe container starts with it, else caps. Each deeper level
 *   decides again for itself (the init compares its own bounding set with the kernel's).
 * Every level gets a private cgroup namespace, so its children's cgroups nest inside its own:
 * its memory figure includes them and nothing is left at the top of the host's hierarchy.
 */
export const PRIVILEGE_REQUESTS = ['auto', 'privileged', 'caps', 'minimal'] as const
export type PrivilegeRequest = (typeof PRIVILEGE_REQUESTS)[number]
export const DEFAULT_PRIVILEGE: PrivilegeRequest = 'auto'

/**
 * --privilege minimal: the smallest set with which a level still runs dockerd, starts the next
 * level and runs an ordinary container, found by experiment (npm run bench:minimal removes one
 * member at a time from everything and keeps only what a depth-3 nest cannot do without).
 * Each entry says what failed without it.
 */
export const MINIMAL_CAPABILITIES: Array<{name: string; why: string}> = [
  // What the level's own dockerd needs.
  {name: 'SYS_ADMIN', why: 'mounts: the cgroup hierarchies ("mount: /sys/fs/cgroup/systemd: permission denied"), overlay layers, namespaces'},
  {name: 'NET_ADMIN', why: 'the bridge and NAT rules ("iptables -t nat -N DOCKER: Permission denied")'},
  {name: 'CHOWN', why: 'dockerd owns its socket to the docker group ("chown /var/run/docker.sock: operation not permitted")'},
  {name: 'DAC_OVERRIDE', why: 'dockerd binds its libnetwork socket ("bind: permission denied")'},
  {name: 'SETGID', why: 'runc sets the groups of the next level\'s init ("setgroups: operation not permitted")'},
  // Docker's default capabilities: an ordinary container at this level (and the next level's
  // own containers) is granted them, which runc can only do when this level holds them
  // (without any one: "unable to apply caps: operation not permitted").
  {name: 'FOWNER', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'FSETID', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'KILL', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'SETUID', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'SETPCAP', why: "Docker's default set; runc also needs it to shrink a child's bounding set"},
  {name: 'NET_BIND_SERVICE', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'NET_RAW', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'SYS_CHROOT', why: 'Docker\'s default set; without it exec into a container fails ("error executing setns process")'},
  {name: 'MKNOD', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'AUDIT_WRITE', why: "Docker's default set, granted to ordinary containers at the level"},
  {name: 'SETFCAP', why: "Docker's default set, granted to ordinary containers at the level"},
]

/**
 * Measured as not needed (a depth-3 nest and an ordinary container work without them):
 * systempaths=unconfined (dockerd copes with a read-only /proc/sys inside its own network
 * namespace) and devices=all (loop and fuse data roots need it: those choices are not minimal).
 * apparmor=unconfined is kept: Docker's default AppArmor profile denies mount, which the init
 * and dockerd must do; where AppArmor is off (as on the measuring host) it changes nothing.
 */
export const MINIMAL_SECURITY: Array<{option: SecurityOption; why: string}> = [
  {option: 'seccomp=unconfined', why: 'runc in the level creates session keyrings for containers ("unable to create session key: operation not permitted")'},
  {option: 'apparmor=unconfined', why: "Docker's default AppArmor profile denies mount (no effect where AppArmor is off)"},
]

interface DecisionBasis {
  /** Why this mode, for the user. */
  reason: string
  /**
   * The limits level 1 gets explicitly: the hard limits of the engine's runtime, which it can
   * always apply. Podman otherwise asks for more open files and processes than it may raise
   * without CAP_SYS_RESOURCE, and every level fails with "error setting rlimits".
   */
  ulimits?: Ulimit[]
}

/** How level 1 runs, as decided on this engine; each mode carries what only it needs. */
export type PrivilegeDecision = DecisionBasis &
  (
    | {mode: 'privileged'}
    /** capDrop: dropped from ALL, because the host's bounding set lacks them. */
    | {mode: 'caps'; capDrop: string[]}
    /** The only capabilities granted (after dropping ALL), and the security options. */
    | {mode: 'minimal'; capAdd: string[]; security: SecurityOption[]}
  )

/**
 * What a probe is allowed: limits below anything an engine runs with, which lowering always
 * permits. Without them a probe on Podman fails on its rlimits before it can read anything.
 */
export const PROBE_ULIMITS: Ulimit[] = [
  {name: 'nofile', soft: 1024, hard: 1024},
  {name: 'nproc', soft: 1024, hard: 1024},
]

/** The hard limits in a /proc/PID/limits table, as level 1's ulimits (unlimited: left out). */
export function ulimitsFrom(limits: string): Ulimit[] | undefined {
  const hard = (label: string) => new RegExp(`^${label}\\s+\\S+\\s+(\\d+)\\s`, 'm').exec(limits)?.[1]
  const found: Ulimit[] = []
  for (const [name, label] of [
    ['nofile', 'Max open files'],
    ['nproc', 'Max processes'],
  ] as const) {
    const value = hard(label)
    if (value !== undefined) found.push({name, soft: Number(value), hard: Number(value)})
  }
  return found.length > 0 ? found : undefined
}

/** The capability names in a /proc/PID/status capability mask ("000001fffeffffff"). */
export function capabilitiesInMask(hexMask: string): string[] {
  const mask = BigInt(`0x${hexMask.trim()}`)
  return CAPABILITY_NAMES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n)
}

/** The names missing from a bounding set, among those the kernel knows (bits 0..lastCap). */
export function capabilitiesMissing(hexMask: string, lastCap: number): string[] {
  const present = new Set(capabilitiesInMask(hexMask))
  return CAPABILITY_NAMES.slice(0, lastCap + 1).filter((name) => !present.has(name))
}

export function readCapabilityMask(status: string, field: 'CapBnd' | 'CapEff' | 'CapPrm'): string | undefined {
  return new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1]
}

export function minimalDecision(capabilities = MINIMAL_CAPABILITIES.map((c) => c.name), security = MINIMAL_SECURITY.map((s) => s.option)): PrivilegeDecision {
  return {mode: 'minimal', capAdd: capabilities, security, reason: 'asked for: the smallest set that runs a nest'}
}

export function hostSettingsFor(decision: PrivilegeDecision): HostSettings {
  return {...privilegeSettings(decision), ...(decision.ulimits ? {ulimits: decision.ulimits} : {})}
}

/** How a level below the first runs: its mode, its settings, and whether its parent drops what its own bounding set lacks. */
export interface NestedPrivilege {
  mode: PrivilegeDecision['mode']
  host: HostSettings
  /**
   * Caps below level 1 under dockerd 20.10: `--cap-add ALL` there names every capability 20.10
   * knows, and runc fails on one the parent's bounding set lacks. Only the parent can read its
   * bounding set, at run time: the plan marks the place (CAP_DROP_MARKER) and the parent's init
   * puts a `--cap-drop` there for each missing one. From 23 on, ALL means what the set holds.
   */
  dropWhatParentLacks: boolean
}

/**
 * The privilege of every level below the first, decided once from level 1's: `minimal` passes the
 * same set down (a level never grants more than it has); `privileged` stays privileged; `auto`
 * becomes `--privileged` where the suite's dockerd grants only what its bounding set holds (23
 * and later), else caps; `caps` stays caps. Ulimits are level 1's only: they fit the host's runtime.
 */
export function nestedPrivilege(decision: PrivilegeDecision, request: PrivilegeRequest, dockerdMajor: number): NestedPrivilege {
  if (decision.mode === 'minimal') return {mode: 'minimal', host: privilegeSettings(decision), dropWhatParentLacks: false}
  if (request === 'privileged' || (request === 'auto' && dockerdMajor >= 23))
    return {mode: 'privileged', host: privilegeSettings({mode: 'privileged', reason: ''}), dropWhatParentLacks: false}
  return {mode: 'caps', host: privilegeSettings({mode: 'caps', capDrop: [], reason: ''}), dropWhatParentLacks: true}
}

/** The same settings as `docker run` flags, for the tools (bench, tests) that start a level by hand. */
export function dockerRunFlags(host: HostSettings): string[] {
  const each = (flag: string, values: readonly string[] | undefined) => (values ?? []).flatMap((value) => [flag, value])
  return [
    ...(host.privileged ? ['--privileged'] : []),
    ...each('--cap-add', host.capAdd),
    ...each('--cap-drop', host.capDrop),
    ...each('--security-opt', host.securityOpt),
    ...(host.maskedPaths?.length === 0 && host.readonlyPaths?.length === 0 ? ['--security-opt', 'systempaths=unconfined'] : []),
    ...each('--device-cgroup-rule', host.deviceCgroupRules),
    ...each(
      '--ulimit',
      host.ulimits?.map((u) => `${u.name}=${u.soft}:${u.hard}`),
    ),
    ...(host.cgroupnsMode ? ['--cgroupns', host.cgroupnsMode] : []),
  ]
}

function privilegeSettings(decision: PrivilegeDecision): HostSettings {
  switch (decision.mode) {
    case 'privileged':
      return {privileged: true, cgroupnsMode: 'private'}
    case 'minimal':
      return {capDrop: ['ALL'], capAdd: decision.capAdd, ...securitySettings(decision.security), cgroupnsMode: 'private'}
    case 'caps':
      return {capAdd: ['ALL'], capDrop: decision.capDrop, ...securitySettings(CAPS_SECURITY), cgroupnsMode: 'private'}
  }
}

/** The security options as engine settings; the init turns the same list into `docker run` flags. */
function securitySettings(security: readonly SecurityOption[]): HostSettings {
  return {
    securityOpt: security.filter((s) => s.startsWith('seccomp=') || s.startsWith('apparmor=')),
    ...(security.includes('systempaths=unconfined') ? {maskedPaths: [], readonlyPaths: []} : {}),
    ...(security.includes('devices=all') ? {deviceCgroupRules: ['a *:* rwm']} : {}),
  }
}

/**
 * A capability the engine will not take in CapDrop, and would not grant with ALL anyway:
 * - "unknown capability: \"CAP_PERFMON\"": an older engine (20.10) does not know the name;
 * - "invalid CapDrop: capability not supported by your kernel or not available in the current
 *   environment: \"CAP_SYS_RESOURCE\"": a newer one (23 and later) limits ALL to the host's
 *   bounding set by itself and refuses to drop what is not there.
 */
export function unknownCapability(error: string | undefined): string | undefined {
  return /(?:unknown capability|invalid CapDrop: [^"]*): "?(?:CAP_)?([A-Z_]+)"?/.exec(error ?? '')?.[1]
}

/**
 * Decides level 1's privilege on this engine. Probes run the level image itself with `true`,
 * so the outcome is what the level will get.
 */
export async function decidePrivilege(engine: Engine, image: string, request: PrivilegeRequest): Promise<PrivilegeDecision> {
  const probeSpec = (host: HostSettings, entrypoint = ['true'], cmd: string[] = []): ContainerSpec => ({
    image,
    entrypoint,
    cmd,
    labels: {[LABEL.probe]: 'privilege'},
    // The image declares /var/lib/docker a volume: a tmpfs there keeps a probe from making one.
    host: {...host, ulimits: PROBE_ULIMITS, tmpfs: {'/var/lib/docker': ''}},
  })
  // The host's bounding set, read from its PID 1 by a container that shares the host's PID
  // namespace with Docker's default (small) capabilities: it reads world-readable files. In the
  // host's PID namespace its parent is the runtime's supervisor (containerd-shim, conmon), whose
  // limits are the ones the runtime can give level 1. Started alongside the --privileged probe,
  // since auto needs it whenever that one fails.
  const readHostStatus = () =>
    engine.probe(probeSpec({pidMode: 'host'}, ['sh', '-c'], ['cat /proc/1/status /proc/sys/kernel/cap_last_cap && cat "/proc/$PPID/limits"']), 20_000)
  let hostStatus = readHostStatus()
  const withLimits = async (decision: PrivilegeDecision): Promise<PrivilegeDecision> => {
    const ulimits = ulimitsFrom((await hostStatus.catch(() => ({output: ''}))).output)
    return ulimits ? {...decision, ulimits} : decision
  }
  if (request === 'minimal') {
    const decision = await withLimits(minimalDecision())
    const outcome = await engine.check(probeSpec(hostSettingsFor(decision)))
    if (!outcome.ok) throw new UsageError(`this engine refuses the minimal privilege set (${outcome.error})`, 'use --privilege auto')
    return decision
  }
  if (request !== 'caps') {
    const privileged = await engine.probe(probeSpec({privileged: true, cgroupnsMode: 'private'}), 20_000)
    if (privileged.ok) return withLimits({mode: 'privileged', reason: 'the engine allows --privileged'})
    if (request === 'privileged') {
      // The other probe is still running: let it remove its container before this process ends.
      await hostStatus.catch(() => undefined)
      throw new UsageError(
        `this engine refuses --privileged (${(privileged.error ?? privileged.output).trim().split('\n')[0]})`,
        'use --privilege caps (or auto, which chooses it by itself)',
      )
    }
  }
  // Without the bounding set, "caps" would ask for capabilities the host may not have, and level
  // 1 would fail to start. Seen once under load: the probe gave no CapBnd. Try again, then stop.
  if (!readCapabilityMask((await hostStatus).output, 'CapBnd')) hostStatus = readHostStatus()
  const status = await hostStatus
  const bounding = readCapabilityMask(status.output, 'CapBnd')
  if (!bounding) {
    throw new LevelFailed(
      1,
      `could not read the engine host's capability bounding set (probe: ${firstLine(status.error ?? (status.output.trim() || `exit ${status.exitCode}`))})`,
      '',
      'nothing was created; try again, and if it persists check that the engine can run a container with --pid host',
    )
  }
  const lastCap = Number(/^(\d+)$/m.exec(status.output)?.[1] ?? CAPABILITY_NAMES.length - 1)
  let capDrop = capabilitiesMissing(bounding, lastCap)
  // An older engine rejects the names it does not know; those it would not grant anyway.
  for (let attemptsLeft = CAPABILITY_NAMES.length; attemptsLeft > 0; attemptsLeft--) {
    const decision = await withLimits({
      mode: 'caps',
      capDrop,
      reason: request === 'caps' ? 'asked for' : `the engine refuses --privileged${capDrop.length > 0 ? ` (its host withholds ${capDrop.join(', ')})` : ''}`,
    })
    // Capability names are checked when a container is created: no need to start one.
    const outcome = await engine.check(probeSpec(hostSettingsFor(decision)))
    if (outcome.ok) return decision
    const unknown = unknownCapability(outcome.error)
    if (!unknown || !capDrop.includes(unknown)) {
      throw new UsageError(
        `this engine refuses both --privileged and the caps mode (${(outcome.error ?? outcome.output).trim().split('\n')[0]})`,
        'run inception on an engine that allows privileged or near-privileged containers',
      )
    }
    capDrop = capDrop.filter((name) => name !== unknown)
  }
  throw new UsageError('could not find a capability set this engine accepts', 'use --privilege privileged on an ordinary host')
}

const firstLine = (text: string) => text.split('\n')[0]
