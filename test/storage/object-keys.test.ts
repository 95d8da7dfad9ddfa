/**
 * Object keys that would leave a dataset's prefix, the bucket's layout or the local folder: every store
 * refuses them with OBJECT_KEY_INVALID before touching anything. The folder store (storage/object-store.ts,
 * FolderObjectStore) must not read outside its root whatever the key; the S3 store (against moto with
 * signatures checked, through a counting proxy) must not send a request. Keys are built as the pull route
 * builds them (server/datasets/pulls.ts objectKeyFor) and also given raw.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { objectKeyFor } from '../../server/datasets/pulls.js';
import { FolderObjectStore, type ObjectStore, S3ObjectStore } from '../../storage/object-store.js';
import { MOTO, MUST_RUN, requireService, serviceLocation } from '../deploy/services.js';
import { type CountingProxy, countingProxy, type MotoServer, startMoto } from './moto.js';

/** Raw keys: dot segments, empty segments, absolute, encoded, backslashes, NUL, a trailing slash. */
const BAD_KEYS = [
  '..',
  '.',
  '../outside.jsonl',
  'datasets/../outside.jsonl',
  'datasets/p/../../outside.jsonl',
  'datasets/p/../other/x.jsonl',
  'datasets/./p/ok.jsonl',
  'datasets//p/ok.jsonl',
  '/etc/passwd',
  '/datasets/p/ok.jsonl',
  'datasets/p/ok.jsonl/',
  'datasets/%2e%2e/outside.jsonl',
  'datasets/p/..%2fother%2fx.jsonl',
  'datasets\\..\\outside.jsonl',
  'datasets/p/ok.jsonl\u0000',
  '',
  `datasets/p/${'a'.repeat(2000)}`,
];
/** Object names a provider could send for dataset `p`, and ids a caller could name. */
const BAD_PULLS: [string, string][] = [
  ['p', '../other/x.jsonl'],
  ['p', '../../outside.jsonl'],
  ['p', 'sub/../../other/x.jsonl'],
  ['p', '..'],
  ['..', 'outside.jsonl'],
  ['.', 'datasets/p/ok.jsonl'],
  ['p/../other', 'x.jsonl'],
];

async function refusal(p: () => Promise<unknown>): Promise<string> {
  try {
    await p();
  } catch (err) {
    expect(err).toBeInstanceOf(PavilionError);
    return (err as PavilionError).code;
  }
  return 'opened';
}

function refusesEverything(store: () => ObjectStore, requests: () => number) {
  for (const key of BAD_KEYS) {
    const shown = `${JSON.stringify(key.slice(0, 40))}${key.length > 40 ? '…' : ''}`;
    it(`key ${shown}: OBJECT_KEY_INVALID, nothing read`, async () => {
      const before = requests();
      expect(await refusal(() => store().open(key))).toBe('OBJECT_KEY_INVALID');
      expect(requests()).toBe(before);
    });
  }
  for (const [id, object] of BAD_PULLS)
    it(`pull of ${JSON.stringify(object)} for dataset ${JSON.stringify(id)}: OBJECT_KEY_INVALID`, async () => {
      expect(await refusal(async () => store().open(objectKeyFor(id, object)))).toBe('OBJECT_KEY_INVALID');
    });
}

describe('the local folder store', () => {
  const root = mkdtempSync(join(tmpdir(), 'pavilion-objects-'));
  const folder = join(root, 'objects');
  mkdirSync(join(folder, 'datasets', 'p'), { recursive: true });
  mkdirSync(join(folder, 'datasets', 'other'), { recursive: true });
  writeFileSync(join(folder, 'datasets', 'p', 'ok.jsonl'), 'inside\n');
  writeFileSync(join(folder, 'datasets', 'other', 'x.jsonl'), 'another dataset\n');
  writeFileSync(join(root, 'outside.jsonl'), 'outside\n');
  const store = () => new FolderObjectStore(folder);

  it('control: opens a key below its root', async () => {
    const o = await store().open(objectKeyFor('p', 'ok.jsonl'));
    expect(o.size).toBe(7);
  });
  refusesEverything(store, () => 0);
});

const available = serviceLocation(MOTO) !== undefined;

describe.skipIf(!available && !MUST_RUN)('the S3 store (moto, signatures checked)', () => {
  let moto: MotoServer;
  let proxy: CountingProxy;
  let s3: S3ObjectStore;

  beforeAll(async () => {
    moto = await startMoto(requireService(MOTO));
    const reader = await moto.createUser('key-reader', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: '*' }],
    });
    await moto.putObjects('pavilion', {
      'datasets/p/ok.jsonl': 'inside\n',
      'datasets/other/x.jsonl': 'another dataset\n',
      'outside.jsonl': 'outside\n',
    });
    await moto.enforceAuth();
    proxy = await countingProxy(moto.endpoint);
    s3 = new S3ObjectStore({ endpoint: proxy.endpoint, bucket: 'pavilion', ...reader });
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await moto?.stop();
  });

  it('control: opens a key below the dataset prefix with one GET', async () => {
    const o = await s3.open(objectKeyFor('p', 'ok.jsonl'));
    expect(o.size).toBe(7);
    expect(proxy.requests).toEqual(['GET /pavilion/datasets/p/ok.jsonl']);
  });
  refusesEverything(
    () => s3,
    () => proxy.requests.length,
  );
});
