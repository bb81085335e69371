import {describe, expect, it} from 'vitest'

import {UsageError} from '../../src/nesting/errors.js'
import {
  capabilitiesInMask,
  capabilitiesMissing,
  decidePrivilege,
  hostSettingsFor,
  unknownCapability,
  PROBE_ULIMITS,
  ulimitsFrom,
} from '../../src/nesting/privilege.js'
import {FakeEngine} from '../support/fake-engine.js'

// This machine's bounding set: everything but CAP_SYS_RESOURCE (bit 24), kernel cap_last_cap 40.
const HOST_STATUS = 'Name:\tinit\nCapBnd:\t000001fffeffffff\n40\n'
const REFUSED = {ok: false, output: '', error: 'unable to apply caps: operation not permitted'}

describe('capability masks', () => {
  it('names the capabilities in a mask', () => {
    expect(capabilitiesInMask('00000000a80425fb')).toEqual([
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'FSETID',
      'KILL',
      'SETGID',
      'SETUID',
      'SETPCAP',
      'NET_BIND_SERVICE',
      'NET_RAW',
      'SYS_CHROOT',
      'MKNOD',
      'AUDIT_WRITE',
      'SETFCAP',
    ])
  })

  it('finds what a bounding set lacks among the capabilities the kernel knows', () => {
    expect(capabilitiesMissing('000001fffeffffff', 40)).toEqual(['SYS_RESOURCE'])
    expect(capabilitiesMissing('000001ffffffffff', 40)).toEqual([])
    expect(capabilitiesMissing('0000003fffffffff', 37)).toEqual([])
  })

  it('reads the capability an older engine does not know from its error', () => {
    expect(unknownCapability('invalid CapDrop: unknown capability: "CAP_PERFMON"')).toBe('PERFMON')
    expect(unknownCapability('something else')).toBeUndefined()
  })

  it('reads the capability a newer engine (23 and later) will not drop because the host lacks it', () => {
    const error = 'invalid CapDrop: capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"'
    expect(unknownCapability(error)).toBe('SYS_RESOURCE')
  })
})

describe('privilege decision', () => {
  it('auto: chooses --privileged where the engine allows it', async () => {
    const engine = new FakeEngine()
    const decision = await decidePrivilege(engine, 'inception:test', 'auto')
    expect(decision.mode).toBe('privileged')
    expect(hostSettingsFor(decision)).toEqual({privileged: true, cgroupnsMode: 'private'})
    expect(engine.calls).toEqual(['probe bounding', 'probe privileged'])
  })

  it('auto: falls back to caps, dropping what the host withholds, where --privileged is refused', async () => {
    const engine = new FakeEngine()
    engine.probeAnswer = (spec) => (spec.host.privileged ? REFUSED : spec.host.pidMode === 'host' ? {ok: true, output: HOST_STATUS} : {ok: true, output: ''})
    const decision = await decidePrivilege(engine, 'inception:test', 'auto')
    expect(decision).toMatchObject({mode: 'caps', capDrop: ['SYS_RESOURCE']})
    expect(decision.reason).toMatch(/withholds SYS_RESOURCE/)
    const settings = hostSettingsFor(decision)
    expect(settings.capAdd).toEqual(['ALL'])
    expect(settings.securityOpt).toEqual(['seccomp=unconfined', 'apparmor=unconfined'])
    expect(settings.maskedPaths).toEqual([])
    expect(settings.deviceCgroupRules).toEqual(['a *:* rwm'])
  })

  it('reads the bounding set again when a probe gives none, and never guesses it', async () => {
    const engine = new FakeEngine()
    let reads = 0
    engine.probeAnswer = (spec) => {
      if (spec.host.privileged) return REFUSED
      if (spec.host.pidMode === 'host') return ++reads === 1 ? {ok: false, output: '', error: 'transient'} : {ok: true, output: HOST_STATUS}
      return {ok: true, output: ''}
    }
    expect(await decidePrivilege(engine, 'inception:test', 'auto')).toMatchObject({mode: 'caps', capDrop: ['SYS_RESOURCE']})
    expect(reads).toBe(2)

    engine.probeAnswer = (spec) =>
      spec.host.privileged ? REFUSED : spec.host.pidMode === 'host' ? {ok: false, output: '', error: 'no such thing'} : {ok: true, output: ''}
    await expect(decidePrivilege(engine, 'inception:test', 'auto')).rejects.toThrow(
      /could not read the engine host's capability bounding set \(probe: no such thing\)/,
    )
  })

  it('caps: retries without a capability name the engine does not know', async () => {
    const engine = new FakeEngine()
    engine.probeAnswer = (spec) => {
      if (spec.host.pidMode === 'host') return {ok: true, output: 'CapBnd:\t000000fffeffffff\n40\n'}
      if (spec.host.capDrop?.includes('CHECKPOINT_RESTORE'))
        return {ok: false, output: '', error: 'invalid CapDrop: unknown capability: "CAP_CHECKPOINT_RESTORE"'}
      return {ok: true, output: ''}
    }
    expect(await decidePrivilege(engine, 'inception:test', 'caps')).toMatchObject({mode: 'caps', capDrop: ['SYS_RESOURCE']})
  })

  it('privileged: says to use caps when the engine refuses it', async () => {
    const engine = new FakeEngine()
    engine.probeAnswer = () => REFUSED
    await expect(decidePrivilege(engine, 'inception:test', 'privileged')).rejects.toThrow(UsageError)
    const error = await decidePrivilege(engine, 'inception:test', 'privileged').catch((e: unknown) => e)
    expect((error as UsageError).hint).toMatch(/use --privilege caps/)
  })
})

describe('resource limits', () => {
  const LIMITS = [
    'Limit                     Soft Limit           Hard Limit           Units',
    'Max processes             32768                32768                processes',
    'Max open files            20000                20000                files',
  ].join('\n')

  it('reads the hard limits of a /proc/PID/limits table', () => {
    expect(ulimitsFrom(LIMITS)).toEqual([
      {name: 'nofile', soft: 20000, hard: 20000},
      {name: 'nproc', soft: 32768, hard: 32768},
    ])
    expect(ulimitsFrom('Max open files            unlimited            unlimited            files')).toBeUndefined()
  })

  it("gives level 1 the runtime's own limits, and every probe limits it may always set", async () => {
    const engine = new FakeEngine()
    const specs: Array<{privileged?: boolean; ulimits?: unknown}> = []
    engine.probeAnswer = (spec) => {
      specs.push(spec.host)
      return spec.host.privileged ? REFUSED : spec.host.pidMode === 'host' ? {ok: true, output: `${HOST_STATUS}\n${LIMITS}\n`} : {ok: true, output: ''}
    }
    const decision = await decidePrivilege(engine, 'inception:test', 'auto')
    expect(hostSettingsFor(decision).ulimits).toEqual([
      {name: 'nofile', soft: 20000, hard: 20000},
      {name: 'nproc', soft: 32768, hard: 32768},
    ])
    expect(specs.length).toBeGreaterThan(1)
    for (const spec of specs) expect(spec.ulimits).toEqual(PROBE_ULIMITS)
  })
})
