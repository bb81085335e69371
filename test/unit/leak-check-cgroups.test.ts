import {describe, expect, it} from 'vitest'

import {cgroupMountsFrom} from '../support/integration.js'

/** Lines of /proc/self/mountinfo: mount point and file system type are what the layout is read from. */
const line = (id: number, point: string, type: string, options = 'rw') => `${id} 22 0:${id} / ${point} rw,relatime - ${type} ${type} ${options}`

describe('the leak check reads cgroups on the layout the host has', () => {
  it('cgroup v1: one hierarchy per controller below the root, the hybrid cgroup2 among them', () => {
    const mountinfo = [
      line(30, '/sys/fs/cgroup', 'tmpfs'),
      line(31, '/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu'),
      line(34, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
      line(39, '/sys/fs/cgroup/systemd', 'cgroup', 'rw,name=systemd'),
      line(40, '/sys/fs/cgroup/unified', 'cgroup2'),
      line(41, '/proc', 'proc'),
    ].join('\n')
    expect(cgroupMountsFrom(mountinfo)).toEqual({
      version: 1,
      hierarchies: ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'],
    })
  })

  it('cgroup v2: cgroup2 on the root itself', () => {
    const mountinfo = [line(25, '/proc', 'proc'), line(26, '/sys/fs/cgroup', 'cgroup2')].join('\n')
    expect(cgroupMountsFrom(mountinfo)).toEqual({version: 2, hierarchies: ['/sys/fs/cgroup']})
  })

  it('a cgroup2 mounted over a v1 tree (what the cgroup v2 lane does) hides the hierarchies below', () => {
    const mountinfo = [
      line(30, '/sys/fs/cgroup', 'tmpfs'),
      line(31, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
      line(50, '/sys/fs/cgroup', 'cgroup2'),
    ].join('\n')
    expect(cgroupMountsFrom(mountinfo)).toEqual({version: 2, hierarchies: ['/sys/fs/cgroup']})
  })

  it.each([
    ['nothing mounted there', [line(25, '/proc', 'proc')]],
    ['a tmpfs with no hierarchy below', [line(30, '/sys/fs/cgroup', 'tmpfs')]],
    ['only a cgroup2 below a tmpfs, no v1 hierarchy', [line(30, '/sys/fs/cgroup', 'tmpfs'), line(40, '/sys/fs/cgroup/unified', 'cgroup2')]],
  ])('fails on a layout it does not know (%s) instead of reading nothing', (_, lines) => {
    expect(() => cgroupMountsFrom(lines.join('\n'))).toThrow(/no cgroup v1 or v2 layout at \/sys\/fs\/cgroup .*knows cgroup v1, v2 and hybrid/)
  })

  it('fails when the root it is given is not where cgroups are', () => {
    const mountinfo = [line(30, '/sys/fs/cgroup', 'tmpfs'), line(31, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory')].join('\n')
    expect(() => cgroupMountsFrom(mountinfo, '/sys/fs/cgroupx')).toThrow(/no cgroup v1 or v2 layout at \/sys\/fs\/cgroupx \(nothing mounted there/)
  })
})
