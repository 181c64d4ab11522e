'use strict';
/**
 * Lets a plain `node` process require the repository's TypeScript directly
 * (`node -r ./test/helpers/ts-register.cjs some.ts`), for test-only child processes such as
 * kill-point-instance.ts, without a build (so never a stale dist/) and without a new dependency.
 *
 * Each .ts file is transpiled alone when first required (`transpileModule`: no type checking,
 * which `npm run typecheck` does once). Transpiling is the slow part of a child's start (about
 * 1.1 s for the ~50 files a Meterline instance loads, plus 0.6 s to load typescript), and a test
 * starts one child per kill point, so the output is also kept in a cache directory keyed by a
 * hash of the source, the compiler options and the typescript version: a changed file is a miss,
 * never a stale hit, and typescript is loaded only on a miss. The directory is
 * $TMPDIR/meterline-ts-register-<uid> unless METERLINE_TS_CACHE names another; deleting it is safe.
 */
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { tmpdir, userInfo } = require('node:os');
const { join } = require('node:path');

const OPTIONS = { module: 'CommonJS', target: 'ES2022', esModuleInterop: true, isolatedModules: true };
const TYPESCRIPT_VERSION = require('typescript/package.json').version;
const CACHE = process.env.METERLINE_TS_CACHE ?? join(tmpdir(), `meterline-ts-register-${userInfo().uid}`);

let typescript;
function transpile(source, filename) {
  typescript ??= require('typescript');
  const compilerOptions = typescript.convertCompilerOptionsFromJson(OPTIONS, '.').options;
  return typescript.transpileModule(source, { compilerOptions, fileName: filename }).outputText;
}

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = readFileSync(filename, 'utf8');
  const key = createHash('sha256').update(`${TYPESCRIPT_VERSION}\0${JSON.stringify(OPTIONS)}\0${filename}\0${source}`).digest('hex');
  const cached = join(CACHE, `${key}.js`);
  let output;
  try {
    output = readFileSync(cached, 'utf8');
  } catch {
    output = transpile(source, filename);
    try {
      mkdirSync(CACHE, { recursive: true });
      // Written aside and renamed: a concurrent child reads the whole file or none.
      const partial = `${cached}.${process.pid}.tmp`;
      writeFileSync(partial, output);
      renameSync(partial, cached);
    } catch {
      // An unwritable cache only costs the next child the transpile.
    }
  }
  module._compile(output, filename);
};
