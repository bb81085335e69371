import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {capabilitiesInMask, readCapabilityMask} from '../../src/nesting/privilege.js'
import {type Cidr, formatCidr, overlaps, parseCidr} from '../../src/nesting/subnets.js'
import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {
  cli,
  describeEvent,
  engineChanges,
  engineEventsDuring,
  expectNestIn,
  type HostSnapshot,
  integrationEngine,
  shAt,
  snapshot,
} from '../support/integration.js'

/**
 * Flags of `up`, `exec`, `env`, `ps` and `down` used for real, each with an assertion that fails
 * when the value is ignored. One depth-3 nest carries most of `up`'s at once, read at level 3
 * (and every level) one by one; a second, depth-2 nest carries those that need another nest.
 */
const engine = await integrationEngine()
const NEST = 'itest-flags'
const OTHER = 'itest-flags-b'
const MTU = 1400
const POOL = '10.77.0.0/16'
const DAEMON_PORT = 23_860
const MARK = 'itest-mark=flags'
const RETAGGED = 'itest-level:flags'
const LOOPBACK_2 = '127.0.0.2'
const PORT = 18_172
/**
 * What `--privilege minimal` grants, written out here from the README (not read from the source):
 * SYS_ADMIN, NET_ADMIN, CHOWN, DAC_OVERRIDE, SETGID and Docker's default set.
 */
const MINIMAL = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_ADMIN',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_ADMIN',
  'SYS_CHROOT',
]

/** Whether `inner` lies wholly inside `pool`. */
const inside = (pool: Cidr, inner: Cidr) => inner.prefix >= pool.prefix && overlaps(pool, inner)

async function atLevel(name: string, level: number, script: string): Promise<string> {
  const result = await shAt(name, level, script)
  expect(result.exitCode, `level ${level}: ${script}\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

/** The stock docker CLI with only the variables given (none of the runner's DOCKER_*). */
function docker(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')))
  return execa('docker', args, {reject: false, env: {...clean, ...env}, extendEnv: false, timeout: 60_000})
}

interface PsNest {
  name: string
  requestedPrivilege: string
  subnets: string[]
  pools: string[]
  levels: Array<{level: number; privilege: string; bridge: string; mtu: number; capabilities: string[]; endpoint?: string; tlsEndpoint?: string}>
}

async function psNest(name: string): Promise<PsNest> {
  const ps = await cli(['ps', '--name', name, '--json'])
  expect(ps.exitCode, ps.stderr).toBe(0)
  return (JSON.parse(ps.stdout) as PsNest[])[0]!
}

describe.skipIf(!engine)("up's flags, read at every level of a depth-3 nest", () => {
  let before: HostSnapshot
  let upOutput = ''

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    await cli(['down', '--name', OTHER])
    before = await snapshot()
    const up = await cli([
      'up',
      '--name',
      NEST,
      '--depth',
      '3',
      '--mtu',
      String(MTU),
      `--dockerd-arg=--label=${MARK}`,
      '--subnet-pool',
      POOL,
      '--daemon-ports',
      String(DAEMON_PORT),
      '--privilege',
      'caps',
    ])
    expect(up.exitCode, up.stderr).toBe(0)
    upOutput = up.stdout
    await expectNestIn(await snapshot(), NEST)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
    await cli(['down', '--name', OTHER])
    await execa('docker', ['rmi', RETAGGED], {reject: false})
  })

  it('--mtu: level 3 uses it for its bridge and for a network made there (the uplink says 1500)', async () => {
    // Without --mtu every level would take its uplink's MTU, the host bridge's 1500.
    expect(Number((await execa('cat', ['/sys/class/net/docker0/mtu'])).stdout)).toBe(1500)
    const mtus = await atLevel(
      NEST,
      3,
      'docker run --rm busybox true && cat /sys/class/net/docker0/mtu && docker network create itest-mtu >/dev/null && ' +
        'docker run --rm --network itest-mtu busybox cat /sys/class/net/eth0/mtu; status=$?; docker network rm itest-mtu >/dev/null; exit $status',
    )
    expect(mtus.split('\n').map(Number)).toEqual([MTU, MTU])
    expect((await psNest(NEST)).levels.map((l) => l.mtu)).toEqual([MTU, MTU, MTU])
  })

  it("--dockerd-arg: level 3's engine has the option too, not only level 1's", async () => {
    for (const level of [1, 2, 3]) {
      const labels = await atLevel(NEST, level, "docker info --format '{{json .Labels}}'")
      expect(JSON.parse(labels) as string[], `level ${level}`).toContain(MARK)
    }
  })

  it("--daemon-ports F: level K's engine answers mutual TLS on F+K-1, as env says", async () => {
    expect(upOutput).toContain('inception env --name itest-flags --level K')
    const ps = await psNest(NEST)
    for (const level of [1, 2, 3]) {
      // The nest has sockets too: --tls asks for the mutual TLS route.
      const shown = await cli(['env', '--name', NEST, '--level', String(level), '--tls', '--format', 'json'])
      expect(shown.exitCode, shown.stderr).toBe(0)
      const env = JSON.parse(shown.stdout) as Record<string, string>
      expect(env.DOCKER_HOST).toBe(`tcp://127.0.0.1:${DAEMON_PORT + level - 1}`)
      expect(ps.levels[level - 1]!.tlsEndpoint).toBe(env.DOCKER_HOST)
      const name = await docker(['info', '--format', '{{.Name}}'], env)
      expect(name.exitCode, name.stderr).toBe(0)
      expect(name.stdout).toBe(await atLevel(NEST, level, 'hostname'))
    }
    // The shell form of env points at the same engine.
    const shell = await cli(['env', '--name', NEST, '--level', '2', '--tls'])
    expect(shell.stdout).toContain(`export DOCKER_HOST='tcp://127.0.0.1:${DAEMON_PORT + 1}'`)
  })

  it("--subnet-pool: every level's bridge and address pool lies inside it", async () => {
    const pool = parseCidr(POOL)!
    const ps = await psNest(NEST)
    expect(ps.subnets).toHaveLength(3)
    expect(ps.pools).toHaveLength(3)
    for (const text of [...ps.subnets, ...ps.pools]) expect(inside(pool, parseCidr(text)!), `${text} in ${POOL}`).toBe(true)
    for (const level of [1, 2, 3]) {
      const subnet = await atLevel(NEST, level, "docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' bridge")
      expect(inside(pool, parseCidr(subnet)!), `level ${level}'s bridge ${subnet} in ${POOL}`).toBe(true)
      expect(subnet).toBe(ps.subnets[level - 1])
      expect(formatCidr(parseCidr(ps.levels[level - 1]!.bridge)!)).toBe(subnet)
    }
  })

  it('--privilege caps, asked for: every level runs in caps mode and runs containers, level 2 included', async () => {
    expect(upOutput).toMatch(/privilege: caps \(asked for/)
    const ps = await psNest(NEST)
    expect(ps.requestedPrivilege).toBe('caps')
    expect(ps.levels.map((l) => l.privilege)).toEqual(['caps', 'caps', 'caps'])
    // caps grants what the host's bounding set holds: more than minimal's set, SYS_ADMIN among them.
    const status = await atLevel(NEST, 2, 'cat /proc/1/status')
    const held = capabilitiesInMask(readCapabilityMask(status, 'CapEff')!)
    expect(held).toEqual(expect.arrayContaining([...MINIMAL, 'SYS_PTRACE', 'SYS_MODULE', 'NET_BROADCAST']))
    expect(await atLevel(NEST, 2, 'docker run --rm busybox echo ok-at-2')).toBe('ok-at-2')
  })

  it('exec --timeout N gives up after N seconds, saying so, and the nest stays', async () => {
    const result = await cli(['exec', '--name', NEST, '--level', '3', '--timeout', '2', '--', 'sleep', '40'])
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('`sleep 40` did not finish within 2s')
    // Only the timeout's path says this; how long it took is the bench's to measure, not a test's to assert.
    expect(await atLevel(NEST, 3, 'echo still-here')).toBe('still-here')
  })

  it('exec -t gives the command a terminal, --no-tty none, with a standard input at its end', async () => {
    // (The CLI's standard input here is at its end at once: the command's output must still come back.)
    const isTerminal = `[ -t 0 ] && [ -t 1 ] && echo terminal || echo none`
    const withTerminal = await cli(['exec', '--name', NEST, '--level', '3', '-t', '--', 'sh', '-c', isTerminal])
    expect(withTerminal.exitCode, withTerminal.stderr).toBe(0)
    expect(withTerminal.stdout.trim()).toBe('terminal')
    const without = await cli(['exec', '--name', NEST, '--level', '3', '--no-tty', '--', 'sh', '-c', isTerminal])
    expect(without.stdout.trim()).toBe('none')
    // Piped input reaches a command with a terminal, and its end reads as the end of input.
    const piped = await cli(['exec', '--name', NEST, '--level', '3', '-t', '--', 'sh', '-c', 'wc -l'], {input: 'one\ntwo\n'})
    expect(piped.exitCode, piped.stderr).toBe(0)
    expect(piped.stdout.trim().split(/\s+/).pop()).toBe('2')
    // Input that ends mid-line ends too (a terminal takes end-of-file only at a line's start).
    const partial = await cli(['exec', '--name', NEST, '--level', '3', '-t', '--timeout', '30', '--', 'cat'], {input: 'no newline'})
    expect(partial.exitCode, partial.stderr).toBe(0)
    expect(partial.stdout).toContain('no newline')
  })

  it('exec -i streams standard input that is a terminal', async () => {
    // script(1) gives the CLI a terminal as standard input and output; --no-tty keeps the command
    // without one, so only -i decides whether the terminal's input reaches it.
    const upper = `sh -c 'head -n 1 | tr a-z A-Z'`
    const run = (command: string) =>
      execa('script', ['-qec', command, '/dev/null'], {input: 'itest-typed\n', reject: false, timeout: 60_000, env: {CI: 'true'}})
    const streamed = await run(`node bin/run.js exec -i --no-tty --name ${NEST} --level 3 -- ${upper}`)
    expect(streamed.stdout).toContain('ITEST-TYPED')
    const notStreamed = await run(`node bin/run.js exec --no-tty --name ${NEST} --level 3 -- ${upper}`)
    expect(notStreamed.stdout).not.toContain('ITEST-TYPED')
  })

  it('a second nest: --privilege minimal with the list written out, --image, --bind, --max-depth, up --json and ps --all', async () => {
    // --max-depth refuses a deeper nest before the engine sees anything (the default, 16, would take it).
    const {result: refused, events} = await engineEventsDuring(() => cli(['up', '--name', OTHER, '--depth', '3', '--max-depth', '2']))
    expect(refused.exitCode).toBe(2)
    expect(refused.stderr.trim()).toBe('inception: --depth 3 is out of range; the limit is --max-depth 2; raise it to go deeper')
    expect(engineChanges(events).map(describeEvent)).toEqual([])

    await execa('docker', ['tag', DEFAULT_IMAGE, RETAGGED])
    const up = await cli([
      'up',
      '--name',
      OTHER,
      '--depth',
      '2',
      '--max-depth',
      '2',
      '--privilege',
      'minimal',
      '--image',
      RETAGGED,
      '--bind',
      LOOPBACK_2,
      '-p',
      `${PORT}:8080`,
      '--json',
    ])
    expect(up.exitCode, up.stderr).toBe(0)
    const shown = JSON.parse(up.stdout) as {name: string; depth: number; ports: string[]}
    expect([shown.name, shown.depth]).toEqual([OTHER, 2])

    // --image: level 1 runs the image asked for.
    expect((await execa('docker', ['inspect', '--format', '{{.Config.Image}}', `${OTHER}-l1`])).stdout).toBe(RETAGGED)

    // minimal: exactly the list, at every level, and level 2's init holds exactly that.
    for (const level of (await psNest(OTHER)).levels) {
      expect(level.privilege).toBe('minimal')
      expect([...level.capabilities].sort()).toEqual(MINIMAL)
    }
    const status = await atLevel(OTHER, 2, 'cat /proc/1/status')
    expect(capabilitiesInMask(readCapabilityMask(status, 'CapEff')!).sort()).toEqual(MINIMAL)

    // --bind: the port is published on 127.0.0.2 and answers there, from a server at level 2.
    await atLevel(OTHER, 2, 'mkdir -p /tmp/www && echo bound-at-2 > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www')
    const listening = (await execa('ss', ['-Hltn', `sport = :${PORT}`])).stdout
    expect(listening).toContain(`${LOOPBACK_2}:${PORT}`)
    expect(listening).not.toContain(`127.0.0.1:${PORT}`)
    let answer = ''
    for (let i = 0; i < 40 && answer !== 'bound-at-2'; i++) {
      const fetched = await execa('curl', ['-s', '-m', '2', `http://${LOOPBACK_2}:${PORT}/`], {reject: false})
      answer = fetched.stdout.trim()
      if (answer !== 'bound-at-2') await new Promise((r) => setTimeout(r, 250))
    }
    expect(answer).toBe('bound-at-2')

    // ps --all with a --name still shows every nest, both of these among them.
    const all = await cli(['ps', '--all', '--name', NEST, '--json'])
    expect(all.exitCode, all.stderr).toBe(0)
    expect((JSON.parse(all.stdout) as PsNest[]).map((n) => n.name)).toEqual(expect.arrayContaining([NEST, OTHER]))
    const one = await cli(['ps', '--name', NEST, '--json'])
    expect((JSON.parse(one.stdout) as PsNest[]).map((n) => n.name)).toEqual([NEST])

    expect((await cli(['down', '--name', OTHER])).exitCode).toBe(0)
  })

  it('down --json reports what it removed, and the host is as before', async () => {
    const down = await cli(['down', '--name', NEST, '--json'])
    expect(down.exitCode, down.stderr).toBe(0)
    const [report] = JSON.parse(down.stdout) as Array<{name: string; removedContainers: number; removedVolumes: number}>
    expect(report).toMatchObject({name: NEST, removedContainers: 1, removedVolumes: 1})
    await execa('docker', ['rmi', RETAGGED], {reject: false})
    expect(await snapshot()).toEqual(before)
  })
})
