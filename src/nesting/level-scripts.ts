import {readFileSync} from 'node:fs'

import {shellContract} from './contract.js'
import {IMAGE_CONTEXT_DIR} from './version.js'

/** The scripts the CLI runs in level 1, in image/cli/ (shellchecked with the init). */
export type LevelScript = 'board-read.sh' | 'board-watch.sh' | 'shortcut.sh'

/**
 * The text of a script the CLI runs in level 1 by `sh -c`: the contract's shell half, the
 * cgroup walk every such script shares (cgroups.sh), then the script. It is sent whole with each
 * exec, read from the CLI's own package, so level 1 needs nothing of it in the image. `contract`
 * is the shell half to begin with (a test moves the board's directory with its own).
 */
export function levelScript(name: LevelScript, contract = shellContract()): string {
  const read = (file: string) => readFileSync(new URL(`cli/${file}`, IMAGE_CONTEXT_DIR), 'utf8')
  return [contract, read('cgroups.sh'), read(name)].join('\n')
}
