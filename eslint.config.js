import {fileURLToPath} from 'node:url'

import js from '@eslint/js'
import prettier from 'eslint-config-prettier/flat'
import {defineConfig, globalIgnores} from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  // node_modules/ is ignored by default; image/ holds shell and the demo page only.
  globalIgnores(['dist/', 'test/artifacts/', 'image/']),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.test.json covers src/, test/ and vitest.config.ts (a new .ts file elsewhere must join its include), with the DOM lib that
        // `npm run typecheck` uses: linting src/ under tsconfig.json instead, --fix removes a cast that typecheck needs (tls.ts's webcrypto).
        project: ['./tsconfig.test.json'],
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)),
      },
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      // With noUncheckedIndexedAccess, `!` is this codebase's way to say an index is known present (regex groups, split results, fixtures).
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers in messages (levels, ports, sizes) are the norm; other types must still be converted explicitly.
      '@typescript-eslint/restrict-template-expressions': ['error', {allowNumber: true}],
      // `(line) => this.log(line)` callbacks are deliberate one-liners; void in other places is still reported.
      '@typescript-eslint/no-confusing-void-expression': ['error', {ignoreArrowShorthand: true}],
      // T[] for simple types, Array<{...}> for object literal and generic element types, as written throughout.
      '@typescript-eslint/array-type': ['error', {default: 'array-simple'}],
      // `async` marks methods that implement a Promise-returning seam (Engine, the fakes, oclif's catch), so a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
      // An empty string means unset (environment variables, flags): `||` on strings is deliberate.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', {ignorePrimitives: {string: true}}],
      // Outside types claim more than runtime gives (dockerode's null Labels, oclif's unset --tty, isTTY); a flag set in a callback looks always-false.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Same cause: Boolean(process.stdout.isTTY) and String(execa output) guard values that can be undefined at runtime.
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
    },
  },
  {
    // bin/ and this file: plain ESM JavaScript, no type information.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {globals: globals.node},
  },
  prettier,
  // Back on after eslint-config-prettier turned it off: Prettier wraps code at 160 but not strings or comments, and no line may be longer.
  {rules: {'max-len': ['error', {code: 160, ignoreUrls: true}]}},
)
