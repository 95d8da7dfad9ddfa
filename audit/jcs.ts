/**
 * RFC 8785 (JCS) serialisation through the installed `canonicalize` package.
 * The package is CommonJS (`module.exports = fn`) while its typings declare an
 * ES default export, which NodeNext types as a namespace; requiring it states
 * the runtime shape exactly.
 */
import { createRequire } from 'node:module';

export const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;
