/**
 * The error catalogue (common/error-codes.ts) is the one list of codes: the source raises nothing else,
 * everything in it is raised somewhere, docs/errors.md is generated from it, and the OpenAPI document
 * names only its codes, each under the status the catalogue gives it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorCatalogueMarkdown, isErrorCode } from '../../common/error-codes.js';
import { fromRoot } from '../../common/paths.js';
import { SETTINGS } from '../../server/config.js';

/**
 * Upper-snake strings that are not broker error codes: settings (server/config.ts), and the error codes
 * of the libraries the code recognises (postgres.js, undici, Node) to classify their failures.
 */
const NOT_CODES = new Set([
  ...SETTINGS.map((s) => s.env),
  'PAVILION_TOKEN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'NETWORK_ERROR',
  'UND_ERR_SOCKET',
  // undici's code for a connection that timed out (cli/audit-client.ts noAnswerReason).
  'UND_ERR_CONNECT_TIMEOUT',
  'ABORT_ERR',
  // ethers' code for an account that cannot pay (anchoring/deploy.ts).
  'INSUFFICIENT_FUNDS',
  // The file that marks a PostgreSQL data folder (storage/embedded-server.ts checkDataFolder).
  'PG_VERSION',
]);
const CODE_SHAPE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/;

function productionSources(): string[] {
  const listed = execFileSync('git', ['ls-files', '*.ts'], { cwd: fromRoot(), encoding: 'utf8' });
  return listed
    .trim()
    .split('\n')
    .filter((f) => !/^(test|bench|wasm\/assembly)\//.test(f));
}

/** Every string literal of the code shape in production code, with where it is. */
function codeShapedLiterals(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of productionSources()) {
    const text = readFileSync(fromRoot(file), 'utf8');
    const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (
        (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) &&
        (CODE_SHAPE.test(n.text) || isErrorCode(n.text))
      ) {
        const line = src.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        found.set(n.text, [...(found.get(n.text) ?? []), `${file}:${line}`]);
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return found;
}

describe('error catalogue', () => {
  const literals = codeShapedLiterals();

  it('every code the source names is in the catalogue', () => {
    const unknown = [...literals].filter(([code]) => !isErrorCode(code) && !NOT_CODES.has(code));
    expect(unknown.map(([code, where]) => `${code} (${where.join(', ')})`)).toEqual([]);
  });

  it('every code in the catalogue is raised somewhere', () => {
    const unused = Object.keys(ERROR_CODES).filter((code) => !literals.has(code));
    expect(unused).toEqual([]);
  });

  it('gives every code an error status and a meaning', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      expect(spec.meaning.length, code).toBeGreaterThan(10);
    }
  });

  it('docs/errors.md is generated from it (npm run docs:errors)', () => {
    expect(readFileSync(fromRoot('docs', 'errors.md'), 'utf8')).toBe(errorCatalogueMarkdown());
  });

  it('the OpenAPI document lists only catalogue codes, each under its own status', () => {
    const doc = JSON.parse(readFileSync(fromRoot('openapi', 'openapi.json'), 'utf8'));
    let listed = 0;
    for (const item of Object.values<Record<string, { responses?: Record<string, { description: string }> }>>(
      doc.paths,
    )) {
      for (const op of Object.values(item)) {
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          for (const [, code] of response.description.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
            expect(isErrorCode(code), `${code} in the OpenAPI document`).toBe(true);
            expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status, code).toBe(Number(status));
            listed++;
          }
        }
      }
    }
    expect(listed).toBeGreaterThan(100);
  });
});
