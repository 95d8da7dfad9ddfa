/**
 * A pull from the local folder store (no S3_ENDPOINT) cannot be turned on another dataset's object or a host
 * file with a symbolic link left in the dataset's folder (storage/object-store.ts, FolderObjectStore): the
 * pull fails OBJECT_NOT_FOUND, as for a missing object, nothing is published, and nothing of the target
 * shows in the answer or the logs.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, randomClk, runPull, startTestBroker, type TestBroker } from '../helpers.js';

const clks = Array.from({ length: 20 }, (_, i) => randomClk(1024, 81_000 + i));
const ROWS = clks.map((clk, i) => JSON.stringify({ ref: `other-${i}`, clk: b64(clk), claims: { over_18: true } }));

describe('pulls from the local folder and symbolic links', () => {
  let t: TestBroker;
  let objects: string;
  beforeAll(async () => {
    t = await startTestBroker();
    for (const id of ['dmv', 'other']) {
      const r = await api(t.url, 'PUT', `/v1/datasets/${id}`, {
        token: t.tokens.dp,
        body: { schema: loadDemoSchema(), claims: ['over_18'] },
      });
      expect(r.status, r.text).toBe(201);
    }
    objects = join(t.stateDir, 'objects', 'datasets');
    mkdirSync(join(objects, 'dmv'), { recursive: true });
    mkdirSync(join(objects, 'other'), { recursive: true });
    writeFileSync(join(objects, 'other', 'o.jsonl'), ROWS.join('\n'));
    symlinkSync('../other/o.jsonl', join(objects, 'dmv', 'stolen.jsonl'));
    symlinkSync('/etc/passwd', join(objects, 'dmv', 'passwd.jsonl'));
    symlinkSync('../other', join(objects, 'dmv', 'sub'));
  }, 60_000);
  afterAll(async () => {
    await t?.broker.close();
  });

  it('control: the other dataset’s own pull of the object succeeds', async () => {
    expect((await runPull(t, 'other', { object: 'o.jsonl', format: 'jsonl' })).json).toMatchObject({
      status: 'succeeded',
      rows: ROWS.length,
    });
  });

  for (const object of ['stolen.jsonl', 'sub/o.jsonl', 'passwd.jsonl'])
    it(`a link (${object}) fails the pull with OBJECT_NOT_FOUND and publishes nothing`, async () => {
      const done = await runPull(t, 'dmv', { object, format: 'jsonl' });
      expect(done.json).toMatchObject({ status: 'failed', error: { code: 'OBJECT_NOT_FOUND' }, version: null });
      expect(done.text).not.toMatch(/root:|other-\d/);
      const ds = await api(t.url, 'GET', '/v1/datasets/dmv', { token: t.tokens.dp });
      expect(ds.json).toMatchObject({ active_version: null, rows: 0 });
      const versions = await api(t.url, 'GET', '/v1/datasets/dmv/versions', { token: t.tokens.dp });
      expect(versions.json.versions).toEqual([]);
    });

  it('no log line carries what the links point at', () => {
    expect(t.logs.join('\n')).not.toMatch(/root:x:0|other-\d+/);
  });
});
