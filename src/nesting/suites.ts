import {IMAGE_REPOSITORY, VERSION} from './version.js'

/**
 * The Debian suites a level image can be built from. The suite decides the Docker that every
 * level of a nest runs, since every level runs the same image (levels below the first get its
 * /usr from their parent).
 */
export const SUITES = ['trixie', 'forky', 'bookworm'] as const
export type Suite = (typeof SUITES)[number]

/** Debian stable: Docker 26 with compose and buildx. */
export const DEFAULT_SUITE: Suite = 'trixie'

/** What each suite's packages give, as measured when they were built (the README's table). */
export const SUITE_NOTES: Record<Suite, string> = {
  trixie: 'Debian 13 (stable): docker.io 26.1, containerd 1.7, compose 2.26, buildx 0.13',
  forky: 'Debian testing: docker.io 28.5, containerd 2.1, compose 2.40, buildx 0.29',
  bookworm: 'Debian 12: docker.io 20.10 (end of life), containerd 1.6, no compose or buildx plugin',
}

/**
 * The major version of each suite's dockerd: from 23 on, `--privileged` and `--cap-add ALL` grant
 * what the engine's own bounding set holds, so a level below the first can be privileged even
 * where level 1 is not; 20.10 asks for every capability it knows and fails where one is missing.
 */
export const SUITE_DOCKERD_MAJOR: Record<Suite, number> = {trixie: 26, forky: 28, bookworm: 20}

/** The level image of a suite: each suite is its own tag. */
export function imageForSuite(suite: Suite): string {
  return `${IMAGE_REPOSITORY}:${VERSION}-${suite}`
}

/** The base image `inception build` starts from, when the engine has it or a registry gives it. */
export function baseImageForSuite(suite: Suite): string {
  return `debian:${suite}-slim`
}

/** What a base bootstrapped from Debian's packages is called in the engine. */
export function bootstrappedBaseForSuite(suite: Suite): string {
  return `inception-base:${suite}`
}

/** The level image `up`, `demo` and the tests use unless told otherwise. */
export const DEFAULT_IMAGE = imageForSuite(DEFAULT_SUITE)
