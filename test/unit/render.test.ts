import {describe, expect, it} from 'vitest'

import Up from '../../src/commands/up.js'
import {CAP_DROP_MARKER, daemonInnerPort, LABEL, planFile} from '../../src/nesting/contract.js'
import {planNest} from '../../src/nesting/plan.js'
import {parsePortMapping} from '../../src/nesting/ports.js'
import {minimalDecision, type PrivilegeDecision, type PrivilegeRequest} from '../../src/nesting/privilege.js'
import {dockerRunArguments, planFiles, planText, renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {LEVEL_SETTINGS} from '../../src/nesting/settings.js'
import {parseDataRoot} from '../../src/nesting/storage.js'
import {VERSION} from '../../src/nesting/version.js'

/**
 * The one renderer of every level's container (render.ts): level 1 for the host's engine, the
 * levels below as the plan's `docker run` arguments.
 */
const caps: PrivilegeDecision = {mode: 'caps', capDrop: ['SYS_RESOURCE'], reason: 'test', ulimits: [{name: 'nofile', soft: 99, hard: 99}]}
const privileged: PrivilegeDecision = {mode: 'privileged', reason: 'test'}

const render = (input: UpInput, decision: PrivilegeDecision, level: number) => renderLevel(planNest(parseUpRequest(input), []), decision, level)
const envOf = (input: UpInput, decision: PrivilegeDecision, level: number) =>
  Object.fromEntries(render(input, decision, level).spec.env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))

describe('the privilege of the levels below the first', () => {
  const below = (privilege: PrivilegeRequest, decision: PrivilegeDecision, suite: UpInput['suite'] = 'trixie') =>
    render({depth: 3, privilege, suite}, decision, 2)

  it('auto with dockerd 23 or later: --privileged below a caps level 1 (it grants what the bounding set holds)', () => {
    const {spec, dropWhatParentLacks} = below('auto', caps)
    expect(spec.host.privileged).toBe(true)
    expect(spec.host.capAdd).toBeUndefined()
    expect(dropWhatParentLacks).toBe(false)
    expect(envOf({depth: 3}, caps, 2).INCEPTION_PRIVILEGE_USED).toBe('privileged')
    expect(envOf({depth: 3}, caps, 1).INCEPTION_PRIVILEGE_USED).toBe('caps')
  })

  it('auto with dockerd 20.10 (bookworm): caps, and the parent drops what its bounding set lacks', () => {
    const {spec, dropWhatParentLacks} = below('auto', privileged, 'bookworm')
    expect(spec.host.privileged).toBeUndefined()
    expect(spec.host.capAdd).toEqual(['ALL'])
    expect(spec.host.capDrop).toEqual([])
    expect(spec.host.securityOpt).toEqual(['seccomp=unconfined', 'apparmor=unconfined'])
    expect(spec.host.deviceCgroupRules).toEqual(['a *:* rwm'])
    expect(dropWhatParentLacks).toBe(true)
  })

  it('caps asked for stays caps at every level; privileged stays privileged', () => {
    expect(below('caps', caps).spec.host.capAdd).toEqual(['ALL'])
    expect(below('caps', caps).dropWhatParentLacks).toBe(true)
    expect(below('privileged', privileged, 'bookworm').spec.host.privileged).toBe(true)
  })

  it('minimal: the same set as level 1, no more', () => {
    const decision = minimalDecision(['CHOWN', 'SYS_ADMIN'], ['apparmor=unconfined'])
    const {spec, dropWhatParentLacks} = below('minimal', decision)
    expect(spec.host.capDrop).toEqual(['ALL'])
    expect(spec.host.capAdd).toEqual(['CHOWN', 'SYS_ADMIN'])
    expect(spec.host.securityOpt).toEqual(['apparmor=unconfined'])
    expect(dropWhatParentLacks).toBe(false)
  })

  it("level 1's ulimits fit the host's runtime only; every level has its own cgroup namespace", () => {
    expect(render({depth: 2}, caps, 1).spec.host.ulimits).toEqual(caps.ulimits)
    expect(render({depth: 2}, caps, 2).spec.host.ulimits).toBeUndefined()
    for (const level of [1, 2]) expect(render({depth: 2}, caps, level).spec.host.cgroupnsMode).toBe('private')
  })
})

describe('what each level is given', () => {
  const input: UpInput = {
    name: 'dream',
    depth: 3,
    ports: [parsePortMapping('18080:8080'), parsePortMapping('15432:5432@2')],
    exposeDaemons: true,
    dataRoot: parseDataRoot('loop:1G'),
    mtu: 1400,
    dockerdArgs: ['--debug'],
    storageDriver: 'vfs',
  }

  it('the port chain: each level publishes to its parent every port that goes at least that deep, level 1 on the host', () => {
    const bindings = (level: number) => render(input, caps, level).spec.host.portBindings
    expect(Object.keys(bindings(1)!)).toEqual(['8080/tcp', '5432/tcp', ...[1, 2, 3].map((l) => `${daemonInnerPort(l)}/tcp`)])
    expect(bindings(1)!['8080/tcp']).toEqual([{HostIp: '127.0.0.1', HostPort: '18080'}])
    expect(bindings(2)).toEqual({
      '8080/tcp': [{HostIp: '', HostPort: '8080'}],
      '5432/tcp': [{HostIp: '', HostPort: '5432'}],
      [`${daemonInnerPort(2)}/tcp`]: [{HostIp: '', HostPort: String(daemonInnerPort(2))}],
      [`${daemonInnerPort(3)}/tcp`]: [{HostIp: '', HostPort: String(daemonInnerPort(3))}],
    })
    expect(Object.keys(bindings(3)!)).toEqual(['8080/tcp', `${daemonInnerPort(3)}/tcp`])
  })

  it("each level's own bridge, pool, loop size, TLS listener; the MTU and the user's options at every level", () => {
    const plan = planNest(parseUpRequest(input), [])
    const sizes = new Set<string>()
    for (const level of [1, 2, 3]) {
      const env = envOf(input, caps, level)
      expect(env.INCEPTION_LEVEL).toBe(String(level))
      expect(env.INCEPTION_MTU).toBe('1400')
      expect(env.INCEPTION_STORAGE_DRIVER).toBe('vfs')
      const options = env.INCEPTION_DOCKERD_OPTIONS!.split(' ')
      expect(options[0]).toBe(`--bip=${plan.levels[level - 1]!.bridge}`)
      expect(options).toContain(`--host=tcp://0.0.0.0:${daemonInnerPort(level)}`)
      expect(options.at(-1)).toBe('--debug')
      sizes.add(env.INCEPTION_DATA_ROOT!)
    }
    expect(sizes.size).toBe(3)
  })

  it("below level 1: the parent's /usr read-only, a data root in the parent's, the board, the TLS material and the plan", () => {
    const {spec} = render(input, caps, 3)
    expect(spec.name).toBe('dream-l3')
    expect(spec.image).toBe(`inception-level:${VERSION}`)
    expect(spec.labels).toEqual({[LABEL.nest]: 'dream', [LABEL.level]: '3', [LABEL.version]: VERSION})
    expect(spec.host.binds).toEqual([
      '/usr:/usr:ro',
      '/var/lib/docker/inception-level-3:/var/lib/docker',
      '/run/inception/board:/run/inception/board',
      '/run/inception/tls:/run/inception/tls:ro',
      '/run/inception/plan:/run/inception/plan:ro',
    ])
    expect(render(input, caps, 1).spec.host.binds).toEqual(['dream-l1:/var/lib/docker'])
  })
})

describe('the plan', () => {
  it('gives the plan to level 1 in its environment, the files for levels 2..N in order, and nothing to the levels below', () => {
    const plan = planNest(parseUpRequest({depth: 3}), [])
    const env = (level: number) => renderLevel(plan, caps, level).spec.env ?? []
    const files = planFiles(plan, caps)
    expect(env(1)).toContain(`INCEPTION_PLAN=${files[planFile(2)]!.content}\n${files[planFile(3)]!.content}\n`)
    expect(env(2)).toContain('INCEPTION_PLAN=')
    expect(env(3)).toContain('INCEPTION_PLAN=')
    expect(planText(planNest(parseUpRequest({depth: 1}), []), caps)).toBe('')
  })

  it('holds a file for every level below the first: its container as `docker run` arguments, one a line, image last', () => {
    const plan = planNest(parseUpRequest({depth: 3, suite: 'bookworm', ports: [parsePortMapping('18080:8080')]}), [])
    const files = planFiles(plan, caps)
    expect(Object.keys(files)).toEqual([planFile(2), planFile(3)])
    const lines = files[planFile(2)]!.content.trimEnd().split('\n')
    expect(lines).toEqual(dockerRunArguments(renderLevel(plan, caps, 2)))
    expect(lines.slice(0, 3)).toEqual(['--detach', '--name', 'inception-l2'])
    expect(lines.at(-1)).toBe(`inception-level:${VERSION}`)
    expect(lines[lines.indexOf('8080:8080') - 1]).toBe('--publish')
    expect(lines[lines.indexOf('a *:* rwm') - 1]).toBe('--device-cgroup-rule')
    expect(lines[lines.indexOf('private') - 1]).toBe('--cgroupns')
    expect(lines).toContain(CAP_DROP_MARKER)
    expect(lines.filter((line) => line === '--env').length).toBeGreaterThan(8)
    expect(planFiles(planNest(parseUpRequest({depth: 1}), []), caps)).toEqual({})
  })
})

describe('the settings table', () => {
  it("gives `up` a flag for each setting, under the setting's own name", () => {
    for (const setting of LEVEL_SETTINGS) {
      const flag = (Up.flags as Record<string, {description?: string; char?: string}>)[setting.flag]
      expect(flag, setting.flag).toBeDefined()
      expect(flag!.description).toBe(setting.description)
      expect(flag!.char).toBe(setting.char)
    }
  })
})
