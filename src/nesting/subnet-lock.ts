import {readFileSync, readlinkSync} from 'node:fs'
import {hostname} from 'node:os'

import {LABEL} from './contract.js'
import {type Engine, NameInUse} from './engine.js'
import {LevelFailed} from './errors.js'
import {type Clock, pollUntil} from './poll.js'

/**
 * Choosing subnets and creating level 1 (whose labels record them) must not interleave with
 * another `up` on the same engine, or two nests get the same subnets. The engine is the lock:
 * container names are unique, so creating a never-started container with a fixed name succeeds
 * for one caller at a time.
 *
 * A CLI killed while it holds the lock leaves the container behind. The lock records who holds
 * it (a label): the process, when it started, and which machine and PID namespace it ran in. A
 * CLI that can see that namespace (the same boot, the same PID namespace: its own /proc answers
 * for the holder) takes a lock whose holder is gone over at once. A holder it cannot see (a CLI
 * on another machine, or in another container, against the same engine) is only presumed gone
 * when the lock is older than anyone holds it.
 */
export const SUBNET_LOCK = 'inception-subnet-lock'
const LOCK_WAIT_MS = 30_000
/** Far longer than the lock is ever held (a few engine calls): only for holders that cannot be checked. */
const LOCK_STALE_MS = 60_000

/** Who holds the lock, as its label records it. */
export interface LockHolder {
  pid: number
  /** The process's start time (clock ticks after boot, /proc/PID/stat): a reused PID is another process. */
  start: string
  /** /proc/sys/kernel/random/boot_id: this boot of this machine. */
  boot: string
  /** The PID namespace (/proc/self/ns/pid): where `pid` means that process. */
  pidns: string
  /**
   * The holder's user: only a process of the same user, or root, is sure to see it in /proc (a
   * /proc mounted with hidepid hides other users' processes, which would look gone).
   */
  uid: number
  host: string
}

export function formatHolder(holder: LockHolder): string {
  return `pid=${holder.pid} start=${holder.start} boot=${holder.boot} pidns=${holder.pidns} uid=${holder.uid} host=${holder.host}`
}

export function parseHolder(label: string | undefined): LockHolder | undefined {
  if (!label) return undefined
  const fields = Object.fromEntries(label.split(' ').map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]))
  const pid = Number(fields.pid)
  const uid = Number(fields.uid)
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(uid) || uid < 0 || !fields.start || !fields.boot || !fields.pidns) return undefined
  return {pid, start: fields.start, boot: fields.boot, pidns: fields.pidns, uid, host: fields.host ?? '?'}
}

/** Where the process runs, and how to see others there; a test passes its own /proc. */
export interface ProcessView {
  self: LockHolder
  /** The start time of PID as /proc has it now, undefined when there is no such process. */
  startOf(pid: number): string | undefined
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return fallback
  }
}

/** The start time (field 22) of /proc/PID/stat; the command name before it may hold spaces. */
export function startTimeFromStat(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

export function procView(proc = '/proc'): ProcessView {
  const startOf = (pid: number) => {
    try {
      return startTimeFromStat(readFileSync(`${proc}/${pid}/stat`, 'utf8'))
    } catch {
      return undefined
    }
  }
  let pidns = ''
  try {
    pidns = readlinkSync(`${proc}/self/ns/pid`)
  } catch {
    // Unknown: no holder can be judged from here (an empty namespace matches none).
  }
  return {
    self: {
      pid: process.pid,
      start: startOf(process.pid) ?? '',
      boot: readOr(`${proc}/sys/kernel/random/boot_id`, ''),
      pidns,
      uid: process.getuid?.() ?? -1,
      host: hostname() || '?',
    },
    startOf,
  }
}

/**
 * Whether the lock's holder is certainly gone: recorded in this boot and PID namespace, by this
 * user (or judged by root), and no process with its PID and start time is there. Undefined: it
 * cannot be told from here.
 */
export function holderGone(holder: LockHolder | undefined, view: ProcessView): boolean | undefined {
  if (!holder || !view.self.boot || !view.self.pidns || holder.boot !== view.self.boot || holder.pidns !== view.self.pidns) return undefined
  if (view.self.uid < 0 || (holder.uid !== view.self.uid && view.self.uid !== 0)) return undefined
  return view.startOf(holder.pid) !== holder.start
}

/** What is known of a lock found on the engine. */
export interface FoundLock {
  id: string
  holder?: LockHolder
  ageMs: number
  /** Its holder is gone (checked, or presumed from its age): the lock may be taken over. */
  stale: boolean
}

export class SubnetLock {
  constructor(
    private readonly engine: Engine,
    private readonly view: ProcessView = procView(),
    private readonly options: {waitMs?: number; clock?: Clock} = {},
  ) {}

  /** The lock as it is on the engine, undefined when nobody holds it. */
  async find(): Promise<FoundLock | undefined> {
    const found = await this.engine.inspectContainer(SUBNET_LOCK)
    if (!found) return undefined
    const holder = parseHolder(found.labels[LABEL.lockHolder])
    const ageMs = Date.now() - found.createdMs
    return {id: found.id, holder, ageMs, stale: holderGone(holder, this.view) ?? ageMs > LOCK_STALE_MS}
  }

  /** Removes the lock if its holder is gone; says whether it did. */
  async clearStale(): Promise<boolean> {
    const lock = await this.find()
    if (!lock?.stale) return false
    await this.engine.removeContainer(lock.id)
    return true
  }

  /** Runs `critical` holding the lock; `image`: what the lock container is made from (any image will do). */
  async hold<T>(image: string, critical: () => Promise<T>): Promise<T> {
    let last: FoundLock | undefined
    const lockId = await pollUntil(
      async () => {
        try {
          // Never started; the tmpfs keeps it from making an anonymous volume for /var/lib/docker.
          return await this.engine.createContainer({
            name: SUBNET_LOCK,
            image,
            entrypoint: ['true'],
            labels: {[LABEL.lock]: 'subnets', [LABEL.lockHolder]: formatHolder(this.view.self)},
            host: {tmpfs: {'/var/lib/docker': ''}},
          })
        } catch (error) {
          if (!(error instanceof NameInUse)) throw error
          last = await this.find()
          if (last?.stale) await this.engine.removeContainer(last.id).catch(() => undefined)
          return undefined
        }
      },
      {
        intervalMs: 100,
        timeoutMs: this.options.waitMs ?? LOCK_WAIT_MS,
        clock: this.options.clock,
        onTimeout: () => new LevelFailed(1, `the subnet lock of this engine is held by ${describeHolder(last)}`, '', waitHint(last)),
      },
    )
    try {
      return await critical()
    } finally {
      await this.engine.removeContainer(lockId).catch(() => undefined)
    }
  }
}

function describeHolder(lock: FoundLock | undefined): string {
  const seconds = Math.round((lock?.ageMs ?? 0) / 1000)
  if (!lock?.holder) return `an \`inception up\` that did not say who it is (for ${seconds}s)`
  return `\`inception up\` (process ${lock.holder.pid} on ${lock.holder.host}, for ${seconds}s)`
}

function waitHint(lock: FoundLock | undefined): string {
  return lock?.holder
    ? `let that \`up\` finish and try again (nothing was created); if it hangs, end it (kill ${lock.holder.pid} on ${lock.holder.host})`
    : `try again in a minute, when the lock expires (nothing was created), or remove it: docker rm ${SUBNET_LOCK}`
}
