import {type Command, Parser} from '@oclif/core'
import {describe, expect, it} from 'vitest'

import {failureReport, InceptionCommand} from '../../src/base-command.js'
import Build from '../../src/commands/build.js'
import Demo from '../../src/commands/demo.js'
import Env from '../../src/commands/env.js'
import Exec from '../../src/commands/exec.js'
import Ps from '../../src/commands/ps.js'
import Up from '../../src/commands/up.js'
import {parseCidr} from '../../src/nesting/subnets.js'

const commands = {build: Build, demo: Demo, env: Env, exec: Exec, ps: Ps, up: Up} as const

/** A command's flags through oclif's own parser, as the command gets them (Command.parse puts the base flags in too). */
async function parse(id: keyof typeof commands, argv: string[]) {
  const command: typeof Command = commands[id]
  return Parser.parse(argv, {flags: {...InceptionCommand.baseFlags, ...command.flags}, strict: command.strict})
}

/** The line a refused argv is reported with, as the base command prints it. */
async function refusal(id: keyof typeof commands, argv: string[]): Promise<string> {
  const error = await parse(id, argv).then(
    () => undefined,
    (error: unknown) => error as Error,
  )
  if (!error) throw new Error(`${id} ${argv.join(' ')} was accepted`)
  const report = failureReport(error, id)
  expect(report?.exitCode, error.message).toBe(2)
  return report!.line
}

describe('typed flags', () => {
  it("give up's values as the domain's types", async () => {
    const {flags} = await parse('up', [
      '--name=ci',
      '--depth=3',
      '--max-depth=20',
      '-p=8080:80',
      '-p=9000:90@2',
      '--data-root=loop:4G',
      '--subnet-pool=10.9.0.0/16',
      '--mtu=1400',
      '--timeout=30',
      '--dockerd-arg=--debug',
      '--daemon-ports=30000',
      '--privilege=caps',
      '--storage-driver=vfs',
      '--suite=forky',
      '--bind=0.0.0.0',
    ])
    expect(flags).toMatchObject({
      name: 'ci',
      depth: 3,
      'max-depth': 20,
      publish: [
        {hostPort: 8080, innerPort: 80},
        {hostPort: 9000, innerPort: 90, level: 2},
      ],
      'data-root': {kind: 'loop', bytes: 4 * 2 ** 30},
      'subnet-pool': parseCidr('10.9.0.0/16'),
      mtu: 1400,
      timeout: 30,
      'dockerd-arg': ['--debug'],
      'daemon-ports': 30_000,
      privilege: 'caps',
      'storage-driver': 'vfs',
      suite: 'forky',
      bind: '0.0.0.0',
    })
  })

  it("give up's defaults typed too", async () => {
    const {flags} = await parse('up', [])
    expect(flags).toMatchObject({
      depth: 1,
      'max-depth': 16,
      privilege: 'auto',
      'storage-driver': 'overlay2',
      'data-root': {kind: 'volume'},
      bind: '127.0.0.1',
      'subnet-pool': parseCidr('172.31.0.0/16'),
      timeout: 60,
      suite: 'trixie',
      'expose-daemons': false,
    })
    expect(flags.mtu).toBeUndefined()
    expect(flags['daemon-ports']).toBeUndefined()
    expect(flags.sockets).toBe('auto')
    // No name: up makes the default nest (parseUpRequest), the other commands use the only nest there is.
    expect(flags.name).toBeUndefined()
  })

  it('give the demo its own nest, depth and port', async () => {
    expect((await parse('demo', [])).flags).toMatchObject({name: 'demo', depth: 4, port: 8080})
    expect((await parse('exec', ['--level', '3', '--timeout', '5'])).flags).toMatchObject({level: 3, timeout: 5})
  })
})

describe('--name', () => {
  // Left out, it is undefined: ps then lists every nest, the other commands take the only one there is.
  it.each([
    [[], undefined],
    [['--name', 'inception'], 'inception'],
    [['-n', 'ci'], 'ci'],
    [['--name=ci'], 'ci'],
  ])('%j gives %s', async (argv, name) => {
    expect((await parse('ps', argv)).flags.name).toBe(name)
  })
})

describe('a refused flag value is one line: what, then what to do', () => {
  it.each([
    ['up', ['--depth', 'abc'], /^inception: --depth "abc" is not a whole number; give a whole number of levels/],
    ['up', ['--name', 'has space'], /^inception: nest name "has space" is not allowed; use 1 to 40 lowercase letters/],
    ['up', ['-p', '0:80'], /^inception: port 0 in -p 0:80 is out of range; ports go from 1 to 65535$/],
    ['up', ['-p', '8080:80', '-p', '8080'], /^inception: -p 8080 is not HOST:INNER or HOST:INNER@LEVEL; write it like -p 8080:80/],
    ['up', ['--data-root', 'loop:0'], /^inception: loop data root size 0 is out of range; give a size from 256M to 16T/],
    ['up', ['--subnet-pool', '10.0.0.0/25'], /^inception: --subnet-pool 10.0.0.0\/25 is smaller than one \/24; /],
    ['up', ['--mtu', 'abc'], /^inception: --mtu "abc" is not a whole number; give a whole number from 576 to 9216/],
    ['up', ['--mtu', '100'], /^inception: --mtu 100 is out of range; give 576 to 9216/],
    ['up', ['--timeout', '0'], /^inception: --timeout 0 is out of range; give 1 to 3600 seconds$/],
    ['up', ['--daemon-ports', '0'], /^inception: --daemon-ports 0 is out of range; give a port from 1 to 65535$/],
    ['up', ['--dockerd-arg', 'debug'], /^inception: --dockerd-arg "debug" is not one dockerd option; /],
    ['up', ['--bind', 'localhost'], /^inception: --bind localhost is not an IPv4 address; /],
    ['up', ['--network', '-x'], /^inception: --network "-x" is not a network name; /],
    ['up', ['--max-depth', '0'], /^inception: --max-depth: Expected an integer greater than or equal to 1 but received: 0; see `inception up --help`$/],
    ['up', ['--privilege', 'root'], /^inception: Expected --privilege=root to be one of: auto, privileged, caps, minimal; see `inception up --help`$/],
    ['up', ['--storage-driver', 'nope'], /^inception: Expected --storage-driver=nope to be one of: overlay2, fuse-overlayfs, vfs; see `inception up --help`$/],
    ['build', ['--suite', 'nope'], /^inception: Expected --suite=nope to be one of: trixie, forky, bookworm; see `inception build --help`$/],
    ['demo', ['--port', '0'], /^inception: --port 0 is out of range; give a port from 1 to 65535$/],
    ['demo', ['--depth', '2.5'], /^inception: --depth "2.5" is not a whole number; /],
    ['exec', ['--level', 'abc', '--', 'true'], /^inception: --level "abc" is not a whole number; levels are numbered from 1/],
    ['exec', ['--level', '0', '--', 'true'], /^inception: --level 0 does not exist; levels are numbered from 1/],
    ['env', ['--format', 'yaml'], /^inception: Expected --format=yaml to be one of: shell, fish, json; see `inception env --help`$/],
    [
      'up',
      ['--sockets', 'relative/folder'],
      /^inception: --sockets relative\/folder is not an absolute path; give auto, none, or the absolute path of a folder/,
    ],
    [
      'up',
      ['--dockerd-arg=--group=users'],
      /^inception: --dockerd-arg --group=users: inception sets --group in every level itself; each level's socket is in this machine's docker group/,
    ],
    ['up', ['--image', 'Foo'], /^inception: --image "Foo" is not an image reference: repository names are lowercase; write it as NAME\[:TAG\]/],
    ['up', ['--image', 'a b'], /^inception: --image "a b" is not an image reference: it contains a space; /],
    ['up', ['--image', ''], /^inception: --image "" is not an image reference: it is empty; /],
    ['build', ['--tag', 'My:tag'], /^inception: --tag "My:tag" is not an image reference: repository names are lowercase; /],
    [
      'up',
      ['--dockerd-arg=--tlsverify=false'],
      /^inception: --dockerd-arg --tlsverify=false: inception sets --tlsverify in every level itself; use --expose-daemons/,
    ],
    ['up', ['--dockerd-arg=--bip=10.1.2.1/24'], /^inception: --dockerd-arg --bip=10.1.2.1\/24: inception sets --bip in every level itself; use --subnet-pool/],
    [
      'up',
      ['--subnet-pool', '127.0.0.0/16'],
      /^inception: --subnet-pool 127.0.0.0\/16 overlaps 127.0.0.0\/8, the loopback range.*; give a pool inside 10.0.0.0\/8/,
    ],
    ['up', ['--subnet-pool', '0.0.0.0/0'], /^inception: --subnet-pool 0.0.0.0\/0 is wider than a \/8/],
  ] as const)('%s %j', async (id, argv, line) => {
    const said = await refusal(id, [...argv])
    expect(said).not.toContain('\n')
    expect(said).toMatch(line)
  })
})
