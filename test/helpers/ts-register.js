/**
 * Lets a plain `node` process load the TypeScript sources the way jest does (swc, decorator
 * metadata, nodenext-style "./x.js" imports mapped to "./x.ts"), for tests that need a process
 * of their own: `node -r test/helpers/ts-register.js ...`.
 */
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith('.') && request.endsWith('.js')) {
    try {
      return resolveFilename.call(this, `${request.slice(0, -3)}.ts`, ...rest);
    } catch {
      // fall through to the request as written
    }
  }
  return resolveFilename.call(this, request, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true } },
  });
  module._compile(code, filename);
};
