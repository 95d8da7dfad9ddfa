/**
 * OPA bundles as the broker reads them: a folder, or a gzipped tar as
 * `opa build` writes it, holding
 *
 *   .manifest          {revision, roots, wasm: [{entrypoint, module}], …}   (optional)
 *   data.json          the policy's data; Pavilion's purposes under pavilion.purposes
 *   policy.wasm        the compiled Rego (the module the manifest names)
 *   .signatures.json   optional: OPA's JWS over every other file (bundle-signature.ts)
 *
 * Other files (the Rego sources `opa build` adds) are kept for the signature
 * check and otherwise ignored. See docs/policy.md for how an operator builds,
 * signs and replaces one.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { PavilionError } from '../common/errors.js';

export const MANIFEST_FILE = '.manifest';
export const SIGNATURES_FILE = '.signatures.json';
export const DATA_FILE = 'data.json';
export const DEFAULT_MODULE = 'policy.wasm';

/** Bounds on what a bundle may hold: a policy bundle is a few hundred KB. */
const MAX_FILES = 1000;
const MAX_BYTES = 64 << 20;

/** Bundle member name → content; names are relative, `/`-separated, without a leading slash. */
export type BundleFiles = Map<string, Uint8Array>;

export function bundleInvalid(message: string): PavilionError {
  return new PavilionError('POLICY_BUNDLE_INVALID', `policy bundle: ${message}`);
}

/** `/policy.wasm`, `./policy.wasm` and `policy.wasm` name one member. */
export function memberName(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '');
}

async function readFolder(root: string): Promise<BundleFiles> {
  const files: BundleFiles = new Map();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        if (files.size >= MAX_FILES) throw bundleInvalid(`more than ${MAX_FILES} files`);
        const bytes = await readFile(path);
        total += bytes.length;
        if (total > MAX_BYTES) throw bundleInvalid(`larger than ${MAX_BYTES} bytes`);
        files.set(relative(root, path).split(sep).join('/'), new Uint8Array(bytes));
      }
    }
  };
  await walk(root);
  return files;
}

async function readTarball(bytes: Uint8Array): Promise<BundleFiles> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_BYTES });
  } catch {
    throw bundleInvalid('not a folder and not a gzipped tar (opa build writes bundle.tar.gz)');
  }
  const files: BundleFiles = new Map();
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') {
          if (files.size >= MAX_FILES) {
            reject(bundleInvalid(`more than ${MAX_FILES} files`));
            return;
          }
          files.set(memberName(header.name), new Uint8Array(Buffer.concat(chunks)));
        }
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', () => reject(bundleInvalid('the tar archive is malformed')));
  });
  extract.end(tar);
  await done;
  return files;
}

/** Reads every member of the bundle at `path` (a folder or a .tar.gz). */
export async function readBundle(path: string): Promise<BundleFiles> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new PavilionError('POLICY_LOAD_FAILED', `the policy bundle ${path} could not be read`);
  }
  if (isDir) return readFolder(path);
  return readTarball(new Uint8Array(await readFile(path)));
}

export interface Manifest {
  revision: string;
  roots: string[];
  /** Entrypoint → module member name. */
  modules: Map<string, string>;
}

/** Revisions go into the policy version, which audit events carry: the audit identifier alphabet, no `+`. */
const REVISION = /^[A-Za-z0-9._:@/=-]{0,100}$/;

function parseJsonMember(files: BundleFiles, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(files.get(name)!));
  } catch {
    throw bundleInvalid(`${name} is not JSON`);
  }
}

export function parseManifest(files: BundleFiles): Manifest {
  if (!files.has(MANIFEST_FILE)) return { revision: '', roots: [''], modules: new Map() };
  const m = parseJsonMember(files, MANIFEST_FILE) as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bundleInvalid('.manifest is not a JSON object');
  const revision = m.revision ?? '';
  if (typeof revision !== 'string' || !REVISION.test(revision))
    throw bundleInvalid('.manifest revision must match [A-Za-z0-9._:@/=-]{0,100}');
  const roots = m.roots ?? [''];
  if (!Array.isArray(roots) || !roots.every((r) => typeof r === 'string'))
    throw bundleInvalid('.manifest roots must be a list of paths');
  // The bundle must own the data path the policy reads (OPA refuses data outside a bundle's roots).
  if (!roots.some((r) => r === '' || r === 'pavilion' || 'pavilion/'.startsWith(`${r.replace(/\/$/, '')}/`)))
    throw bundleInvalid('.manifest roots must include "pavilion" (or "")');
  const modules = new Map<string, string>();
  const wasm = m.wasm ?? [];
  if (!Array.isArray(wasm)) throw bundleInvalid('.manifest wasm must be a list');
  for (const w of wasm as { entrypoint?: unknown; module?: unknown }[]) {
    if (typeof w?.entrypoint !== 'string' || typeof w.module !== 'string')
      throw bundleInvalid('.manifest wasm entries need an entrypoint and a module');
    modules.set(w.entrypoint, memberName(w.module));
  }
  return { revision, roots, modules };
}

/** The one wasm module serving every entrypoint the broker calls. */
export function policyModule(files: BundleFiles, manifest: Manifest, entrypoints: readonly string[]): Uint8Array {
  const named = new Set(entrypoints.map((e) => manifest.modules.get(e) ?? DEFAULT_MODULE));
  if (named.size > 1) throw bundleInvalid('the broker needs all its entrypoints in one wasm module');
  const name = [...named][0]!;
  const bytes = files.get(name);
  if (!bytes) throw bundleInvalid(`the wasm module ${name} is missing`);
  return bytes;
}

/**
 * SHA-256 over every member but the signatures (name and content digest, in
 * name order): the bundle's identity, whatever folder or archive carries it.
 */
export function bundleDigest(files: BundleFiles): string {
  const h = createHash('sha256');
  for (const name of [...files.keys()].sort()) {
    if (name === SIGNATURES_FILE) continue;
    h.update(name)
      .update('\0')
      .update(createHash('sha256').update(files.get(name)!).digest('hex'))
      .update('\n');
  }
  return h.digest('hex');
}

/** The policy version audit events carry: `<revision>+<12 hex of the digest>`, or the digest alone. */
export function policyVersion(revision: string, digest: string): string {
  return revision ? `${revision}+${digest.slice(0, 12)}` : digest.slice(0, 12);
}

export function dataJson(files: BundleFiles): { raw: Uint8Array; value: unknown } {
  for (const name of files.keys()) {
    if (name !== DATA_FILE && (name.endsWith('/data.json') || name.endsWith('data.yaml')))
      throw bundleInvalid(`${name}: only a data.json at the bundle root is read`);
  }
  if (!files.has(DATA_FILE)) throw bundleInvalid('data.json is missing (the purposes live there)');
  return { raw: files.get(DATA_FILE)!, value: parseJsonMember(files, DATA_FILE) };
}
