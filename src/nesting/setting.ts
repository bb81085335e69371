import type {UpRequest} from './request.js'

/**
 * What an entry of the settings table (settings.ts) is: the flag a user gives it with, its
 * default, how its text is parsed, how level 1's label records it, and what each level receives
 * of it. The entries live with their domain where it has a file of its own (budgets.ts), or in
 * settings.ts, which holds the table.
 */

/** Where a level stands in its nest, for what it receives of a setting. */
export interface LevelPosition {
  level: number
  depth: number
  /** The host address level 1 publishes on (--bind). */
  bind: string
}

/** A port a level's container publishes to its parent: INNER on HOST_PORT (the same port below level 1). */
export interface Publish {
  innerPort: number
  hostPort?: number
  hostIp?: string
}

/** The bounds of a level's container, which its parent's engine applies (budgets.ts). */
export interface LevelResources {
  memoryBytes?: number
  cpus?: number
  cpuset?: string
  pids?: number
  /** Devices of the parent's the level gets (level 1's /dev/fuse, for lxcfs). */
  devices?: string[]
}

/** What one level receives of a setting: init variables, options for its dockerd, ports to publish, folders to mount (SOURCE:TARGET), bounds. */
export interface LevelPart {
  env?: Record<string, string>
  dockerd?: string[]
  publish?: Publish[]
  binds?: string[]
  resources?: LevelResources
}

/** T: the value `up` uses; Each: what one flag gives (one -p of many); Recorded: what `ps` reads back from the label. */
export interface Setting<T, Each = T, Recorded = T> {
  /** The long flag of `up`, without dashes. */
  flag: string
  char?: 'p'
  helpValue: string
  /** For a flag whose values are a closed list (oclif shows and checks them). */
  options?: readonly string[]
  multiple?: boolean
  /** What `up` uses when the flag is left out; help shows `defaultHelp` when given. */
  default: T
  defaultHelp?: string
  description: string
  parse(text: string): Each
  /** The value in a request that `parseUpRequest` made. */
  of(request: UpRequest): T
  /** How level 1's labels record it; left out when the label would say nothing (no value). */
  label?: {key: string; encode(value: T, depth: number): string | undefined; decode(text: string | undefined): Recorded}
  /** What level `position.level` receives of it. */
  level(value: T, position: LevelPosition): LevelPart
}

export const setting = <T, Each = T, Recorded = T>(entry: Setting<T, Each, Recorded>): Setting<T, Each, Recorded> => entry
