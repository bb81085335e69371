import {UsageError} from './errors.js'

/** Storage drivers a level's dockerd may use; each is probed by the init and falls back if unusable. */
export const STORAGE_DRIVERS = ['overlay2', 'fuse-overlayfs', 'vfs'] as const
export type StorageDriver = (typeof STORAGE_DRIVERS)[number]
export const DEFAULT_STORAGE_DRIVER: StorageDriver = 'overlay2'

/**
 * Where a level's /var/lib/docker lives. Never the container's own layered root file system:
 * overlay2 cannot stack on overlayfs.
 * - volume: a Docker volume at level 1; below, a directory of the parent's data root that the
 *   parent bind-mounts (default)
 * - tmpfs: memory; fast, lost at `down`, counts against the level's memory
 * - loop: an ext4 file system in a file of the given size; bounds the level's disk use
 */
export type DataRoot = {kind: 'volume'} | {kind: 'tmpfs'} | {kind: 'loop'; bytes: number}
export const DEFAULT_DATA_ROOT: DataRoot = {kind: 'volume'}

export interface StorageChoice {
  driver: StorageDriver
  dataRoot: DataRoot
}

const UNITS: Record<string, number> = {'': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50}
/** Smallest loop file that holds an ext4 journal, the level image and a few small images. */
export const MIN_LOOP_BYTES = 256 * 2 ** 20
/** 16 TiB is ext4's practical ceiling (the file is allocated whole, so the disk decides before that). */
export const MAX_LOOP_BYTES = 16 * 2 ** 40

export function parseSize(value: string): number {
  const match = /^(\d+)([KMGTP]?)i?B?$/i.exec(value.trim())
  if (!match) throw new UsageError(`"${value}" is not a size`, 'write a size like 512M, 2G or 10G')
  const [, digits, unit] = match
  return Number(digits) * UNITS[(unit ?? '').toUpperCase()]!
}

/** A size the way a user writes it (4G, 512M): in the largest unit that divides it. */
export function formatSize(bytes: number): string {
  const [unit, size] = Object.entries(UNITS)
    .reverse()
    .find(([, unitBytes]) => bytes % unitBytes === 0)!
  return `${bytes / size}${unit}`
}

export function parseDataRoot(value: string): DataRoot {
  if (value === 'volume' || value === 'tmpfs') return {kind: value}
  if (value.startsWith('loop:')) {
    const bytes = parseSize(value.slice('loop:'.length))
    if (bytes < MIN_LOOP_BYTES || bytes > MAX_LOOP_BYTES) {
      throw new UsageError(`loop data root size ${value.slice(5)} is out of range`, 'give a size from 256M to 16T, e.g. --data-root loop:4G')
    }
    return {kind: 'loop', bytes}
  }
  throw new UsageError(`unknown data root "${value}"`, 'use volume, tmpfs or loop:SIZE (e.g. loop:4G)')
}

/** What a level keeps on its own data root besides the level below: images, layers, metadata. */
export const LOOP_HEADROOM_BYTES = 256 * 2 ** 20

/**
 * Loop data roots nest: level K+1's file lives on level K's file system. If both had the same
 * size, filling level K+1 would fill level K first, and level K+1's loop device would get I/O
 * errors (ext4 then aborts its journal and goes read-only) instead of a plain "no space left".
 * So loop:SIZE bounds the innermost level, and each outer level gets room for the one below
 * (plus ext4's own overhead, about 6%) and LOOP_HEADROOM_BYTES of its own. The files are
 * allocated whole (image/init/storage.sh), so level 1's takes its full size on the host at `up`.
 */
export function loopSizesByLevel(innermostBytes: number, depth: number): number[] {
  const sizes = [innermostBytes]
  for (let level = depth - 1; level >= 1; level--) {
    sizes.unshift(Math.ceil((sizes[0]! * 1.06) / 2 ** 20) * 2 ** 20 + LOOP_HEADROOM_BYTES)
  }
  return sizes
}

export function describeDataRoot(root: DataRoot): string {
  return root.kind === 'loop' ? `loop:${Math.round(root.bytes / 2 ** 20)}M` : root.kind
}
