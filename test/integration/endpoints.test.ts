import {execa} from 'execa'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {contextName} from '../../src/nesting/contexts.js'
import {levelSocketFile, ROOT_SOCKET_BASE} from '../../src/nesting/contract.js'
import {configDir} from '../../src/nesting/endpoint.js'
import {socketGroup} from '../../src/nesting/sockets.js'
import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {
  cli,
  describeEvent,
  engineChanges,
  engineEventsDuring,
  type HostSnapshot,
  integrationEngine,
  psLevels,
  ROOT,
  shAt,
  snapshot,
  upFresh,
} from '../support/integration.js'

/**
 * Every level an endpoint for users' own tools: a unix socket per level on this machine, a docker
 * context per level that the stock CLI and compose use, `env` for clients and testcontainers,
 * and commands that find the only nest without --name. The docker CLI here runs with the
 * configuration folder the integration run gives it (DOCKER_CONFIG).
 */
const engine = await integrationEngine()
const NEST = 'itest-ends'
const OTHER = 'itest-ends-b'
const REFUSED = 'itest-ends-c'
const folder = join(ROOT_SOCKET_BASE, NEST)
const socket = (level: number) => join(folder, levelSocketFile(level))
const docker = (args: string[], env: Record<string, string> = {}) => execa('docker', args, {reject: false, env})

describe.skipIf(!engine)('every level an endpoint', () => {
  let before: HostSnapshot
  const work = mkdtempSync(join(tmpdir(), 'inception-endpoints-'))

  beforeAll(async () => {
    for (const name of [OTHER, REFUSED]) await cli(['down', '--name', name])
    before = await upFresh(NEST, ['--depth', '3'])
  }, 300_000)

  afterAll(async () => {
    for (const name of [NEST, OTHER, REFUSED]) await cli(['down', '--name', name])
    rmSync(work, {recursive: true, force: true})
  })

  it("gives each level a socket on this machine, root's, 0660 in the docker group, where that level's own engine answers", async () => {
    const {levels} = await psLevels(NEST)
    for (const level of [1, 2, 3]) {
      const stat = statSync(socket(level))
      expect(stat.isSocket(), socket(level)).toBe(true)
      expect([stat.mode & 0o777, stat.uid, stat.gid]).toEqual([0o660, 0, socketGroup()])
      expect(levels[level - 1]!.endpoint).toBe(`unix://${socket(level)}`)
      // The engine's name is its host's: the level's own hostname, as the level itself says it.
      const name = await docker(['-H', `unix://${socket(level)}`, 'info', '--format', '{{.Name}}'])
      expect(name.exitCode, name.stderr).toBe(0)
      expect(name.stdout.trim()).toBe((await shAt(NEST, level, 'hostname')).stdout.trim())
    }
  })

  it('env points a client at a level through its socket, for sh, fish and JSON', async () => {
    const json = await cli(['env', '--name', NEST, '--level', '2', '--json'])
    expect(json.exitCode, json.stderr).toBe(0)
    const variables = JSON.parse(json.stdout) as Record<string, string>
    expect(variables).toEqual({DOCKER_HOST: `unix://${socket(2)}`, TESTCONTAINERS_RYUK_DISABLED: 'true'})
    // The stock CLI with those variables only: its container is at level 2.
    const run = await docker(['run', '--name', 'itest-ends-probe', 'busybox', 'true'], {...variables})
    expect(run.exitCode, run.stderr).toBe(0)
    expect((await shAt(NEST, 2, 'docker ps -a --format {{.Names}}')).stdout).toContain('itest-ends-probe')
    expect((await docker(['rm', 'itest-ends-probe'], variables)).exitCode).toBe(0)
    const sh = await cli(['env', '--name', NEST, '--level', '3'])
    expect(sh.stdout).toContain(`export DOCKER_HOST='unix://${socket(3)}' TESTCONTAINERS_RYUK_DISABLED='true'\nunset DOCKER_TLS_VERIFY DOCKER_CERT_PATH`)
    expect(sh.stdout).toMatch(/ports that containers publish at level 3 do not answer on this machine/)
    const fish = await cli(['env', '--name', NEST, '--level', '1', '--format', 'fish'])
    expect(fish.stdout).toContain(`set -gx DOCKER_HOST 'unix://${socket(1)}'\nset -gx TESTCONTAINERS_HOST_OVERRIDE '`)
  })

  it('testcontainers, with only the variables env printed, serves a page from level 1 through its mapped port', async () => {
    const variables = JSON.parse((await cli(['env', '--name', NEST, '--level', '1', '--json'])).stdout) as Record<string, string>
    expect(variables.TESTCONTAINERS_HOST_OVERRIDE).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    const script = [
      "import {GenericContainer} from 'testcontainers'",
      "const web = await new GenericContainer('busybox:latest').withCommand(['httpd', '-f', '-p', '8080', '-h', '/etc']).withExposedPorts(8080).start()",
      'const page = await fetch(`http://${web.getHost()}:${web.getMappedPort(8080)}/hostname`)',
      'console.log(JSON.stringify({id: web.getId(), host: web.getHost(), status: page.status, body: (await page.text()).trim()}))',
    ].join('\n')
    // Nothing of the runner's environment but what finds programs and the home folder: the variables are all it has.
    const run = await execa('node', ['--input-type=module', '-e', script], {
      cwd: ROOT,
      reject: false,
      extendEnv: false,
      env: {PATH: process.env.PATH!, HOME: work, ...variables},
    })
    expect(run.exitCode, run.stderr).toBe(0)
    const seen = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {id: string; host: string; status: number; body: string}
    expect(seen.host).toBe(variables.TESTCONTAINERS_HOST_OVERRIDE)
    expect(seen.status).toBe(200)
    expect(seen.body).toBe(seen.id.slice(0, 12))
    // It ran at level 1: that engine has it.
    expect((await shAt(NEST, 1, `docker inspect --format {{.Id}} ${seen.id}`)).stdout.trim()).toBe(seen.id)
    await shAt(NEST, 1, `docker rm -f ${seen.id}`)
  })

  it('writes a docker context per level that the stock CLI and compose use at that level', async () => {
    expect((await snapshot()).contexts).toEqual(expect.arrayContaining([1, 2, 3].map((level) => contextName(NEST, level))))
    const ls = await docker(['context', 'ls', '--format', '{{.Name}} {{.DockerEndpoint}}'])
    expect(ls.stdout).toContain(`${contextName(NEST, 3)} unix://${socket(3)}`)
    // The compose plugin of the level image, put where the docker CLI looks for plugins.
    const plugins = join(configDir(process.env), 'cli-plugins')
    mkdirSync(plugins, {recursive: true})
    const id = (await execa('docker', ['create', DEFAULT_IMAGE])).stdout.trim()
    await execa('docker', ['cp', `${id}:/usr/libexec/docker/cli-plugins/docker-compose`, join(plugins, 'docker-compose')])
    await execa('docker', ['rm', '-v', id])
    chmodSync(join(plugins, 'docker-compose'), 0o755)
    const file = join(work, 'compose.yaml')
    writeFileSync(
      file,
      [
        'services:',
        '  web:',
        '    image: busybox',
        '    command: httpd -f -p 8080 -h /etc',
        '  client:',
        '    image: busybox',
        '    command: sh -c "until wget -qO- http://web:8080/hostname; do sleep 0.2; done"',
        '    depends_on: [web]',
        '',
      ].join('\n'),
    )
    const compose = ['--context', contextName(NEST, 3), 'compose', '-f', file, '-p', 'itestends']
    const up = await docker([...compose, 'up', '--abort-on-container-exit', '--exit-code-from', 'client'])
    expect(up.exitCode, up.stderr).toBe(0)
    const names = (await shAt(NEST, 3, 'docker ps -a --format {{.Names}}')).stdout
    expect(names).toContain('itestends-web-1')
    // The client printed the web container's hostname: its ID's start, at level 3.
    const web = (await shAt(NEST, 3, 'docker inspect --format {{.Config.Hostname}} itestends-web-1')).stdout.trim()
    expect(up.stdout).toContain(web)
    expect((await docker([...compose, 'down'])).exitCode).toBe(0)
  })

  it('uses the only nest when --name is left out, and names them all when there are several', async () => {
    const names = JSON.parse((await cli(['ps', '--json'])).stdout) as Array<{name: string}>
    expect(names.map((n) => n.name)).toEqual([NEST])
    const one = await cli(['exec', '--', 'hostname'])
    expect(one.exitCode, one.stderr).toBe(0)
    expect(one.stdout.trim()).toBe((await shAt(NEST, 1, 'hostname')).stdout.trim())
    expect((await cli(['up', '--name', OTHER, '--no-contexts'])).exitCode).toBe(0)
    const two = await cli(['exec', '--', 'true'])
    expect(two.exitCode).toBe(2)
    expect(two.stderr.trim()).toBe(`inception: there are 2 nests here (${NEST}, ${OTHER}); which one?; give --name NAME`)
    expect((await snapshot()).contexts.filter((name) => name.includes(OTHER))).toEqual([])
    expect((await cli(['down', '--name', OTHER])).exitCode).toBe(0)
  })

  it('refuses, in one line and creating nothing: a level out of range, a context someone made, a socket folder that cannot be made', async () => {
    const outside = await cli(['env', '--name', NEST, '--level', '9'])
    expect([outside.exitCode, outside.stderr.trim()]).toEqual([
      2,
      `inception: level 9 is outside nest "${NEST}", which has levels 1 to 3; use --level between 1 and 3`,
    ])
    const theirs = contextName(REFUSED, 1)
    expect((await docker(['context', 'create', theirs, '--docker', 'host=unix:///var/run/docker.sock'])).exitCode).toBe(0)
    const unmade = join(work, 'a-file')
    writeFileSync(unmade, '')
    const cases: Array<[string[], number, RegExp]> = [
      [['up', '--name', REFUSED], 6, new RegExp(`^inception: the docker context "${theirs}" is not inception's \\(.*\\); remove or rename it`)],
      [
        ['up', '--name', REFUSED, '--no-contexts', '--sockets', join(unmade, 'below')],
        2,
        new RegExp(`^inception: cannot make the socket folder ${unmade}/below/${REFUSED} \\(${unmade} is not a folder\\)`),
      ],
    ]
    for (const [args, code, line] of cases) {
      const shot = await snapshot()
      const {result, events} = await engineEventsDuring(() => cli(args))
      expect(result.exitCode, result.stderr).toBe(code)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toMatch(line)
      expect(engineChanges(events).map(describeEvent), args.join(' ')).toEqual([])
      expect(await snapshot()).toEqual(shot)
    }
    // The user's context is as it was.
    expect((await docker(['context', 'inspect', theirs, '--format', '{{.Endpoints.docker.Host}}'])).stdout.trim()).toBe('unix:///var/run/docker.sock')
    expect((await docker(['context', 'rm', theirs])).exitCode).toBe(0)
  })

  it("down removes the sockets and the contexts, and moves the docker CLI's current context off them", async () => {
    const levelTwo = (await shAt(NEST, 2, 'hostname')).stdout.trim()
    expect((await docker(['context', 'use', contextName(NEST, 2)])).exitCode).toBe(0)
    expect((await docker(['info', '--format', '{{.Name}}'])).stdout.trim()).toBe(levelTwo)
    // inception follows the current context too, as the docker CLI does: the nest is on the default one.
    expect((await cli(['ps', '--json'])).stdout.trim()).toBe('[]')
    const down = await cli(['down', '--context', 'default'])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(existsSync(folder)).toBe(false)
    const config = JSON.parse(readFileSync(join(configDir(process.env), 'config.json'), 'utf8')) as {currentContext?: string}
    expect(config.currentContext).toBeUndefined()
    expect(await snapshot()).toEqual(before)
  })
})
