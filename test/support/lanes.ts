import {execa} from 'execa'
import {expect} from 'vitest'

import {levelName} from '../../src/nesting/contract.js'
import {type CgroupPlace, cli, type CliResult, containerCgroups, type EngineCgroups, engineCgroups, inspectLevelOne, readCgroups, shAt} from './integration.js'

/**
 * What the host matrix runs on every test host (an engine the suite starts itself: a cgroup v2
 * dockerd, a Docker 28 level, Podman): a depth-2 nest, a container at level 2, exec with its exit
 * status and stdin, a -p chain answering on this machine's 127.0.0.1, ps --json, and down leaving
 * nothing on that engine.
 */
export interface TestHost {
  /** DOCKER_HOST and friends for the CLI and the docker client. */
  env: Record<string, string>
  /** What the engine holds that a nest could leave behind (its containers, volumes, networks, cgroups...), compared before and after. */
  state(): Promise<object>
  /** Fails unless `state`, read while nest `name` is up, holds the nest's parts: a state that reads nothing must not pass. */
  expectNest(state: object, name: string): Promise<void>
  /** Another Node binary to run the CLI with (the machine's own by default). */
  node?: string
}

export interface EngineState {
  containers: string[]
  volumes: string[]
  networks: string[]
  cgroups: string[]
}

/** A docker client command against the test host; fails with its output when it fails. */
export async function dockerOn(host: {env: Record<string, string>}, args: string[]): Promise<string[]> {
  const result = await execa('docker', args, {env: host.env, reject: false})
  if (result.exitCode !== 0) throw new Error(`docker ${args.join(' ')} on ${host.env.DOCKER_HOST}: ${result.stderr}`)
  return String(result.stdout)
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .sort()
}

/**
 * A test host reached with `env`, whose containers' cgroups are seen at `place` (this machine, or
 * inside the container of this machine's engine that the test host's engine runs in). The cgroup
 * layout is read there and checked against the engine's own account (its cgroup version and
 * driver, Docker or Podman). `alsoDocker` adds the cgroups a Docker engine of the same cgroup
 * version makes at that place with the cgroupfs driver: under Podman, level 1 has no cgroup
 * namespace of its own, so its engine puts the next level's cgroup at the top of the hierarchy,
 * under docker/.
 */
export function laneHost(env: Record<string, string>, place: CgroupPlace, {alsoDocker = false} = {}): TestHost {
  const engines = async (): Promise<EngineCgroups[]> => {
    const own = await engineCgroups(env)
    return alsoDocker ? [own, {engine: 'docker', version: own.version, driver: 'cgroupfs'}] : [own]
  }
  return {
    env,
    state: async () => engineState({env}, async () => readCgroups(place, await engines())),
    async expectNest(state, name) {
      const {Id} = await inspectLevelOne(name, env)
      const taken = state as EngineState
      const where = `the engine state read while nest "${name}" is up on ${env.DOCKER_HOST}`
      expect(taken.containers, `${where}: its level 1 container`).toContain(`${Id} ${levelName(name, 1)}`)
      expect(taken.volumes, `${where}: its volume`).toContain(levelName(name, 1))
      expect(taken.cgroups, `${where}: its cgroups`).toEqual(expect.arrayContaining(await containerCgroups(place, (await engines())[0]!, Id)))
    },
  }
}

/** The engine's containers, volumes and networks, plus the cgroups the caller reads. */
export async function engineState(host: {env: Record<string, string>}, cgroups: () => Promise<string[]>): Promise<EngineState> {
  const state = {
    containers: await dockerOn(host, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']),
    volumes: await dockerOn(host, ['volume', 'ls', '-q']),
    networks: await dockerOn(host, ['network', 'ls', '-q']),
    cgroups: await cgroups(),
  }
  // Every engine has its default networks: none seen means the check read nothing. What a nest
  // adds is checked by the host's expectNest, on a state read while the nest is up.
  if (state.networks.length === 0) throw new Error(`engine state: no networks read from ${host.env.DOCKER_HOST}`)
  return state
}

async function httpAnswer(port: number, limitMs = 15_000): Promise<string> {
  const deadline = Date.now() + limitMs
  let last = ''
  while (Date.now() < deadline) {
    const result = await execa('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], {reject: false})
    if (result.exitCode === 0 && result.stdout) return result.stdout.trim()
    last = `curl exit ${result.exitCode}`
    await new Promise((r) => setTimeout(r, 250))
  }
  return last
}

function expectOk(result: CliResult, what: string): void {
  expect(result.exitCode, `${what}\n${result.stdout}\n${result.stderr}`).toBe(0)
}

/**
 * The lane itself. `port` is published by the nest on the test host's engine (bound to
 * `bind`) and must reach this machine's 127.0.0.1:port, through whatever the test host adds.
 * Returns the seconds `up --depth 2` took, for the README's table.
 */
export async function exerciseHost(
  host: TestHost,
  name: string,
  port: number,
  bind = '127.0.0.1',
): Promise<{upSeconds: number; privilege: string; dockerd: string}> {
  const options = {env: {...host.env, CI: 'true'}, node: host.node}
  const on = (args: string[], input?: string) => cli(args, {...options, input})
  await on(['down', '--name', name])
  const before = await host.state()
  const up = await on(['up', '--name', name, '--depth', '2', '-p', `${port}:8080`, '--bind', bind])
  expectOk(up, 'up --depth 2')
  await host.expectNest(await host.state(), name)
  expectOk(await on(['exec', '--name', name, '--level', '2', '--', 'docker', 'run', '--rm', 'busybox', 'true']), 'a container at level 2')
  const piped = await on(['exec', '--name', name, '--level', '2', '--', 'sh', '-c', 'cat; exit 3'], 'stdin reaches level 2\n')
  expect(piped.stdout).toBe('stdin reaches level 2')
  expect(piped.exitCode).toBe(3)
  const serve = await shAt(name, 2, `mkdir -p /tmp/w && echo "${name} level 2" > /tmp/w/index.html && busybox httpd -p 8080 -h /tmp/w`, options)
  expectOk(serve, 'a server at level 2')
  expect(await httpAnswer(port)).toBe(`${name} level 2`)
  const ps = await on(['ps', '--name', name, '--json'])
  expectOk(ps, 'ps --json')
  const levels = (JSON.parse(ps.stdout) as Array<{levels: Array<{state: string; privilege: string; dockerdVersion: string}>}>)[0]!.levels
  expect(levels.map((l) => l.state)).toEqual(['running', 'running'])
  expectOk(await on(['down', '--name', name]), 'down')
  expect(await host.state()).toEqual(before)
  return {upSeconds: up.durationMs / 1000, privilege: levels[0]!.privilege, dockerd: levels[0]!.dockerdVersion}
}
