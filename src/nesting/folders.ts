import {accessSync, constants, existsSync, statSync} from 'node:fs'
import {dirname} from 'node:path'

/**
 * Why FOLDER could not be made by this process, or undefined when it could: the nearest part of
 * its path that exists must be a folder this process may write in, as the kernel decides it (root
 * may write anywhere but on a read-only mount). Makes nothing: `up` checks before it creates.
 */
export function whyCannotMake(folder: string): string | undefined {
  let path = folder
  while (!existsSync(path)) path = dirname(path)
  if (!statSync(path).isDirectory()) return `${path} is not a folder`
  try {
    accessSync(path, constants.W_OK | constants.X_OK)
    return undefined
  } catch (error) {
    return `${path} cannot be written (${(error as NodeJS.ErrnoException).code ?? 'error'})`
  }
}
