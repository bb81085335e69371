import {readFileSync} from 'node:fs'

/** The package version; it tags the image and marks every container a nest creates. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}).version

export const IMAGE_REPOSITORY = 'inception'
/** The directory that holds the Dockerfile and the in-image init. */
export const IMAGE_CONTEXT_DIR = new URL('../../image/', import.meta.url)
