/**
 * Pulls against an S3 API that checks SigV4 signatures and IAM policies
 * (moto's server with authentication on, test/storage/moto.ts): the good path
 * in one GET, and each way the store refuses (wrong secret, unknown key, a
 * policy that denies, a missing object, a missing bucket) reported under its
 * own stable code with the store's own error code in the message, once, with
 * no retry; then the same through a broker's pull records.
 *
 * Needs MOTO_SERVER_BIN (.ci/run installs moto in a virtualenv); skipped
 * without it, failing when CI is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { S3ObjectStore } from '../../storage/object-store.js';
import {
  MOTO,
  MUST_RUN,
  missingMessage,
  requireService,
  serviceLocation,
  startBrokerWith,
} from '../deploy/services.js';
import { api, b64, randomClk } from '../server/helpers.js';
import { type CountingProxy, countingProxy, type MotoServer, startMoto } from './moto.js';

const available = serviceLocation(MOTO) !== undefined;
const BUCKET = 'pavilion';
const clks = Array.from({ length: 40 }, (_, i) => randomClk(1024, 51_000 + i));
const JSONL = clks
  .map((clk, i) => JSON.stringify({ ref: `p${i}`, clk: b64(clk), claims: { over_18: i % 2 === 0 } }))
  .join('\n');

/** Reads everything, bucket-wide, except the locked/ prefix, which an explicit Deny keeps out. */
const READER_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: '*' },
    { Effect: 'Deny', Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/datasets/locked/*` },
  ],
};

async function failure(p: Promise<unknown>): Promise<PavilionError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PavilionError);
  return err as PavilionError;
}

async function readAll(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts).toString();
}

describe.skipIf(!available && !MUST_RUN)('the object store against a signature-checking S3', () => {
  let moto: MotoServer;
  let proxy: CountingProxy;
  let reader: { accessKey: string; secretKey: string };
  let nobody: { accessKey: string; secretKey: string };
  const store = (creds: { accessKey: string; secretKey: string }, bucket = BUCKET) =>
    new S3ObjectStore({ endpoint: proxy.endpoint, bucket, ...creds });

  beforeAll(async () => {
    moto = await startMoto(requireService(MOTO));
    reader = await moto.createUser('pavilion-reader', READER_POLICY);
    nobody = await moto.createUser('no-permissions');
    await moto.putObjects(BUCKET, {
      'datasets/ds/people.jsonl': JSONL,
      'datasets/locked/people.jsonl': JSONL,
    });
    await moto.enforceAuth();
    proxy = await countingProxy(moto.endpoint);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await moto?.stop();
  });

  it('reads an object with one signed GET: bytes, size and type', async () => {
    proxy.requests.length = 0;
    const object = await store(reader).open('datasets/ds/people.jsonl');
    expect(object.size).toBe(Buffer.byteLength(JSONL));
    expect(await readAll(object.body)).toBe(JSONL);
    expect(proxy.requests).toEqual([`GET /${BUCKET}/datasets/ds/people.jsonl`]);
  });

  const cases: { name: string; open: () => Promise<unknown>; code: string; status: number; store: string }[] = [
    {
      name: 'a wrong secret',
      open: () =>
        store({ accessKey: reader.accessKey, secretKey: 'wrong-secret-sentinel' }).open('datasets/ds/people.jsonl'),
      code: 'OBJECT_STORE_CREDENTIALS_INVALID',
      status: 503,
      store: 'SignatureDoesNotMatch',
    },
    {
      name: 'an unknown access key',
      open: () =>
        store({ accessKey: 'AKIAUNKNOWNUNKNOWN00', secretKey: 'wrong-secret-sentinel' }).open(
          'datasets/ds/people.jsonl',
        ),
      code: 'OBJECT_STORE_CREDENTIALS_INVALID',
      status: 503,
      store: 'InvalidAccessKeyId',
    },
    {
      name: 'a key without any permission',
      open: () => store(nobody).open('datasets/ds/people.jsonl'),
      code: 'OBJECT_STORE_ACCESS_DENIED',
      status: 403,
      store: 'AccessDenied',
    },
    {
      name: 'a policy that denies the prefix',
      open: () => store(reader).open('datasets/locked/people.jsonl'),
      code: 'OBJECT_STORE_ACCESS_DENIED',
      status: 403,
      store: 'AccessDenied',
    },
    {
      name: 'a missing object',
      open: () => store(reader).open('datasets/ds/absent.jsonl'),
      code: 'OBJECT_NOT_FOUND',
      status: 404,
      store: '',
    },
    {
      name: 'a missing bucket',
      open: () => store(reader, 'no-such-bucket').open('datasets/ds/people.jsonl'),
      code: 'OBJECT_STORE_BUCKET_MISSING',
      status: 503,
      store: 'NoSuchBucket',
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code} (${c.status}) after one request, naming the store's code`, async () => {
      proxy.requests.length = 0;
      const err = await failure(c.open());
      expect(err.code).toBe(c.code);
      expect(err.status).toBe(c.status);
      expect(err.message).toContain(c.store);
      expect(err.message).not.toContain('wrong-secret-sentinel');
      expect(err.message).not.toContain(reader.secretKey);
      expect(proxy.requests).toHaveLength(1);
      expect(proxy.requests[0]).toMatch(/^GET \//);
    });
  }

  it('a broker pull records the store’s refusal under its own code, and publishes with the right key', async () => {
    const settings = (secretKey: string) => ({
      S3_ENDPOINT: moto.endpoint,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY: reader.accessKey,
      S3_SECRET_KEY: secretKey,
    });
    for (const [secret, expected] of [
      ['wrong-secret-sentinel', { status: 'failed', error: { code: 'OBJECT_STORE_CREDENTIALS_INVALID' } }],
      [reader.secretKey, { status: 'succeeded', version: 1, rows: clks.length }],
    ] as const) {
      const b = await startBrokerWith(settings(secret));
      try {
        const dp = await b.broker.localIdentity!.mint({ sub: 'registry', roles: ['dp'] });
        const { loadDemoSchema } = await import('../../demo/people.js');
        const put = await api(b.url, 'PUT', '/v1/datasets/ds', {
          token: dp,
          body: { schema: loadDemoSchema(), claims: ['over_18'] },
        });
        expect(put.status, put.text).toBe(201);
        const started = await api(b.url, 'POST', '/v1/datasets/ds/pulls', {
          token: dp,
          body: { object: 'people.jsonl' },
        });
        expect(started.status, started.text).toBe(202);
        let record = started;
        for (let i = 0; i < 200 && record.json.status === 'running'; i++) {
          await new Promise((r) => setTimeout(r, 50));
          record = await api(b.url, 'GET', `/v1/datasets/ds/pulls/${started.json.id}`, { token: dp });
        }
        expect(record.json).toMatchObject(expected);
        expect(b.logs.join('\n')).not.toContain(secret);
      } finally {
        await b.close();
      }
    }
  }, 60_000);
});

// Registered only when the service is missing, so a run that has it reports no skip.
if (!(available || MUST_RUN))
  describe('the object store against a signature-checking S3', () => {
    it.skip(missingMessage(MOTO), () => {});
  });
