import {levelName} from './contract.js'
import {levelScript} from './level-scripts.js'

/**
 * The shortest way from level 1 to level K: one exec into level 1 that enters level K's
 * namespaces directly, instead of a `docker exec` at every level on the way (each hop starts a
 * docker CLI and an exec in the next engine: 0.15-0.2 s a level, measured). Level 1's PID
 * namespace holds every deeper level's processes, and level K's cgroup, seen from level 1, is
 * /docker/ID2/docker/ID3/.../docker/IDK (the ids are on the board); the one process there that is
 * PID 1 in its own namespace is level K's init. The command joins level K's cgroups and runs in
 * that init's mount, UTS, IPC, network, PID and cgroup namespaces, with its environment (as
 * `docker exec` gives the container's), and its exit status comes back through nsenter. Where the init cannot be found
 * (a level on its way up or down), the script falls back to the chain of `docker exec`s. The
 * script is image/cli/shortcut.sh; the cgroup walk it shares with the board's reader is
 * image/cli/cgroups.sh.
 *
 * Arguments: LEVEL HOP_FLAGS LEVEL_NAMES -- CMD... (HOP_FLAGS: "-i", "-i -t", "-t" or ""; LEVEL_NAMES:
 * the containers of levels 2 to K, for the fallback).
 */
export const SHORTCUT_SCRIPT = levelScript('shortcut.sh')

/** The exec into level 1 that runs CMD at level K by the shortcut. */
export function shortcutCommand(nest: string, level: number, cmd: string[], mode: {interactive: boolean; tty: boolean}): string[] {
  const hop = [...(mode.interactive ? ['-i'] : []), ...(mode.tty ? ['-t'] : [])].join(' ')
  const names = Array.from({length: level - 1}, (_, i) => levelName(nest, i + 2)).join(' ')
  return ['sh', '-c', SHORTCUT_SCRIPT, 'sh', String(level), hop, names, '--', ...cmd]
}
