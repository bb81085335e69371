import {describe, expect, it} from 'vitest'

import {failureReport} from '../../src/base-command.js'
import {refusal} from '../../src/nesting/dockerode-errors.js'
import {AddressUnavailable, CreateRefused, type EngineRefusal, NameInUse, PortInUse, StartRefused} from '../../src/nesting/engine.js'
import {BindAddressUnavailable, ContainerNameTaken, EngineUnreachable, ExitCode, LevelFailed, LevelOneRefused, PortTaken} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {dockerodeError, FakeEngine} from '../support/fake-engine.js'

/*
 * The engines' own words, as dockerode hands them on (status code, JSON message), translated by
 * the adapter into the seam's refusals; then `up` turning those into the user's errors.
 */

/** How Docker begins its complaints about a port of level 1. */
const EXTERNAL = 'driver failed programming external connectivity on endpoint inception-l1 (9c1e)'
const NAME_CONFLICT = 'Conflict. The container name "/inception-l1" is already in use by container "0f3c".'

describe("the adapter's translation of an engine's refusal", () => {
  it('a 409 on create is the name in use (Docker), as is Podman saying so with a 500', () => {
    const docker = refusal(
      'create',
      dockerodeError(409, `${NAME_CONFLICT} You have to remove (or rename) that container to be able to reuse that name.`, 'no such container'),
      'inception-l1',
    )
    expect(docker).toBeInstanceOf(NameInUse)
    expect(docker).toMatchObject({containerName: 'inception-l1', step: 'create'})
    expect((docker as NameInUse).engineSays).toMatch(/^Conflict\. The container name/)
    const podman = refusal(
      'create',
      dockerodeError(500, 'creating container storage: the container name "inception-l1" is already in use by 0f3c'),
      'inception-l1',
    )
    expect(podman).toBeInstanceOf(NameInUse)
    // The status alone says it on create; on start, a 409 is a container being removed.
    expect(refusal('create', dockerodeError(409, 'Conflict'), 'inception-l1')).toBeInstanceOf(NameInUse)
    expect(refusal('start', dockerodeError(409, 'container is marked for removal and cannot be started'))).toBeInstanceOf(StartRefused)
  })

  it.each([
    // Docker 20-28, the port held by another container.
    [`${EXTERNAL}: Bind for 127.0.0.1:18080 failed: port is already allocated`, '127.0.0.1', 18_080],
    // Docker 20-26, held by another process.
    [`${EXTERNAL}: Error starting userland proxy: listen tcp4 0.0.0.0:18081: bind: address already in use`, '0.0.0.0', 18_081],
    // Docker 28: the host's ADDRESS:PORT first, then the container's.
    [
      `failed to set up container networking: ${EXTERNAL}: failed to bind host port for 127.0.0.1:23751:172.17.0.2:23751/tcp: address already in use`,
      '127.0.0.1',
      23_751,
    ],
    [`${EXTERNAL}: Bind for [::]:18082 failed: port is already allocated`, '::', 18_082],
    // Podman names no address when none was asked for.
    ['cannot listen on the TCP port: listen tcp4 :18083: bind: address already in use', undefined, 18_083],
  ])('a taken port on start: %s', (message, address, port) => {
    const error = refusal('start', dockerodeError(500, message))
    expect(error).toBeInstanceOf(PortInUse)
    expect(error).toMatchObject({step: 'start', address, port, engineSays: message})
  })

  it('an address the host lacks, with the address the engine names', () => {
    const message = `${EXTERNAL}: Error starting userland proxy: listen tcp4 192.0.2.77:18080: bind: cannot assign requested address`
    const error = refusal('start', dockerodeError(500, message))
    expect(error).toBeInstanceOf(AddressUnavailable)
    expect(error).toMatchObject({address: '192.0.2.77', engineSays: message})
  })

  it("any other refusal carries the engine's message, on one line; a source position is no port", () => {
    const caps = 'OCI runtime create failed: container_linux.go:380: starting container process caused: unable to apply caps: operation not permitted: unknown'
    expect(refusal('start', dockerodeError(500, caps))).toEqual(new StartRefused(caps))
    // "address already in use" of a socket, not of a port: runc's "go:380" must not be read as port 380.
    const socket = 'OCI runtime create failed: container_linux.go:380: starting container process caused: listen unix /run/x.sock: bind: address already in use'
    expect(refusal('start', dockerodeError(500, socket))).toBeInstanceOf(StartRefused)
    const gone = refusal('create', dockerodeError(404, 'No such image: inception:gone', 'no such container'))
    expect(gone).toEqual(new CreateRefused('No such image: inception:gone'))
    // Without a JSON body: dockerode's own message, first line only.
    const bare = refusal('start', new Error('(HTTP code 500) server error - the runtime said no\n  at somewhere (file.js:1:1)'))
    expect((bare as EngineRefusal).engineSays).toBe('(HTTP code 500) server error - the runtime said no')
  })

  it('passes on what is translated already: an engine that cannot be reached, a refusal', () => {
    const unreachable = new EngineUnreachable('unix:///var/run/docker.sock', 'ECONNREFUSED')
    expect(refusal('start', unreachable)).toBe(unreachable)
    const taken = new NameInUse('x', 'Conflict')
    expect(refusal('create', taken)).toBe(taken)
  })
})

describe("up, when the engine refuses level 1, tells the user in the user's terms", () => {
  const request = (bind = '127.0.0.1') => parseUpRequest({image: 'inception:test', depth: 1, timeoutSeconds: 1, bind})
  /** A fake engine that refuses level 1 at `step`, with the error the adapter would give. */
  function refusing(step: 'create' | 'start', error: EngineRefusal): FakeEngine {
    const fake = new FakeEngine()
    const create = fake.createContainer.bind(fake)
    const start = fake.startContainer.bind(fake)
    fake.createContainer = async (spec) => {
      if (step === 'create' && spec.name === 'inception-l1') throw error
      return create(spec)
    }
    fake.startContainer = async (id) => {
      if (step === 'start' && fake.containers.get(id)?.name === 'inception-l1') throw error
      return start(id)
    }
    return fake
  }

  it('a refusal none of its errors names: one line and exit 5, never a stack trace, and nothing left', async () => {
    const fake = refusing('start', new StartRefused('OCI runtime create failed: unable to apply caps: operation not permitted: unknown'))
    const error = await new Nests(fake).up(request()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(LevelOneRefused)
    expect(error).toBeInstanceOf(LevelFailed)
    const report = failureReport(error as LevelOneRefused, 'up')
    expect(report?.exitCode).toBe(ExitCode.levelFailed)
    expect(report?.line).toMatch(/^inception: level 1 failed: the engine refused to start its container: OCI runtime create failed: unable to apply caps/)
    expect(report?.line).toMatch(/: operation not permitted: unknown; the nest was rolled back; [^;]+$/)
    expect(report?.line).not.toContain('\n')
    expect(fake.containers.size).toBe(0)
    expect(fake.volumes.size).toBe(0)
  })

  it('a refused create is reported the same way', async () => {
    const fake = refusing('create', new CreateRefused('invalid mount config for type "volume": invalid mount path: \'x\''))
    await expect(new Nests(fake).up(request())).rejects.toThrow(/^level 1 failed: the engine refused to create its container: invalid mount config/)
    expect(fake.volumes.size).toBe(0)
  })

  it("a taken port names the engine's address and port (a level's engine port is on 127.0.0.1 whatever --bind is)", async () => {
    const fake = refusing('start', new PortInUse('start', '127.0.0.1', 23_751, 'Bind for 127.0.0.1:23751 failed: port is already allocated'))
    const error = await new Nests(fake).up(request('0.0.0.0')).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(PortTaken)
    expect((error as PortTaken).message).toBe('port 127.0.0.1:23751 is already in use (another container or process)')
  })

  it('an address the engine host lacks is --bind', async () => {
    const fake = refusing('start', new AddressUnavailable('start', '192.0.2.77', 'listen tcp4 192.0.2.77:18080: bind: cannot assign requested address'))
    const error = await new Nests(fake).up(request()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(BindAddressUnavailable)
    expect((error as BindAddressUnavailable).message).toBe("--bind 127.0.0.1 is not an address of the engine's host (unix:///fake.sock)")
  })

  it('a name taken meanwhile is the container in the way', async () => {
    const fake = refusing('create', new NameInUse('inception-l1', 'Conflict'))
    const error = await new Nests(fake).up(request()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(ContainerNameTaken)
    expect((error as ContainerNameTaken).message).toMatch(/^a container named inception-l1 is already on this engine/)
  })
})
