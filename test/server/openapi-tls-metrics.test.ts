/**
 * The OpenAPI document matches the routes actually registered; TLS serves
 * 1.3 only; /metrics exposes the per-route series.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { api, b64, randomClk, startTestBroker, type TestBroker } from './helpers.js';

let t: TestBroker;
beforeAll(async () => {
  t = await startTestBroker();
});
afterAll(async () => {
  await t?.broker.close();
});

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists exactly the registered routes', async () => {
    const r = await api(t.url, 'GET', '/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.json;
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const m of ['get', 'put', 'post', 'delete', 'patch'])
        if (item[m]) documented.add(`${m.toUpperCase()} ${path}`);
    }
    const registered = new Set(t.broker.routes.map((x) => `${x.method} ${x.template}`));
    registered.add('GET /v1/ws');
    expect([...registered].filter((x) => !documented.has(x))).toEqual([]);
    expect([...documented].filter((x) => !registered.has(x))).toEqual([]);
  });

  it('the committed openapi/openapi.json is the served document (regenerate: npm run openapi)', async () => {
    const { readFileSync } = await import('node:fs');
    const { fromRoot } = await import('../../common/paths.js');
    const served = (await api(t.url, 'GET', '/openapi.json')).json;
    expect(JSON.parse(readFileSync(fromRoot('openapi', 'openapi.json'), 'utf8'))).toEqual(served);
  });

  it('every $ref resolves', async () => {
    const doc = (await api(t.url, 'GET', '/openapi.json')).json;
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[A-Za-z]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas[ref.split('/').pop()!.replace('"', '')]).toBeDefined();
  });
});

describe('metrics', () => {
  it('exposes per-route request counts and latency histograms by template', async () => {
    await api(t.url, 'GET', '/v1/datasets/whatever', { token: t.tokens.rp });
    const m = (await api(t.url, 'GET', '/metrics')).text;
    expect(m).toMatch(/pavilion_http_requests_total\{route="\/v1\/datasets\/\{id\}",method="GET",status="404"\} 1/);
    expect(m).toMatch(/pavilion_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/datasets\/\{id\}"/);
    expect(m).toMatch(/pavilion_audit_tree_size \d+/);
  });

  it('counts comparisons, pool tasks, cache results, dataset sizes and audit appends', async () => {
    const clks = Array.from({ length: 300 }, (_, i) => randomClk(1024, 777_000 + i));
    await api(t.url, 'PUT', '/v1/datasets/m', {
      token: t.tokens.dp,
      body: { schema: loadDemoSchema(), claims: ['over_18'] },
    });
    await api(t.url, 'POST', '/v1/datasets/m/versions', {
      token: t.tokens.dp,
      raw: clks.map((c, i) => JSON.stringify({ ref: `m${i}`, clk: b64(c) })).join('\n'),
      contentType: 'application/x-ndjson',
    });
    const body = { dataset: 'm', clk: b64(clks[9]!), claims: ['over_18'], purpose: 'age_verification' };
    await api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, body });
    await api(t.url, 'POST', '/v1/verifications', { token: t.tokens.rp, body });
    const m = (await api(t.url, 'GET', '/metrics')).text;
    expect(m).toMatch(/pavilion_dice_comparisons_total 300\b/);
    expect(m).toMatch(/pavilion_pool_task_duration_seconds_count\{task="match"\} 1\b/);
    expect(m).toMatch(/pavilion_cache_requests_total\{result="hit"\} 1\b/);
    expect(m).toMatch(/pavilion_cache_requests_total\{result="miss"\} 1\b/);
    // Public: the records of all datasets summed, never which datasets exist nor how big each is.
    expect(m).toMatch(/^pavilion_dataset_records 300$/m);
    expect(m).toMatch(/^pavilion_datasets_active 1$/m);
    expect(m).not.toMatch(/dataset="/);
    expect(m).toMatch(/^pavilion_audit_checkpoint_lag_seconds \d+(\.\d+)?(e[-+]?\d+)?$/m);
    expect(m).toMatch(/pavilion_audit_append_duration_seconds_count [1-9]/);
    // The appends' hashes are held in memory: at least one 8 KiB chunk of leaf hashes.
    expect(Number(/pavilion_audit_cache_bytes (\d+)/.exec(m)?.[1])).toBeGreaterThanOrEqual(8192);
    expect(m).toMatch(/pavilion_pool_queue_depth 0\b/);
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('TLS', () => {
  for (const keyType of ['ec', 'rsa'] as const) {
    it(`with an ${keyType} key: TLS 1.3 only`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pavilion-tls-'));
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      const keyArgs =
        keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
      execFileSync(
        'openssl',
        ['req', '-x509', ...keyArgs, '-keyout', key, '-out', cert, '-days', '1', '-nodes', '-subj', '/CN=localhost'],
        { stdio: 'ignore' },
      );
      const s = await startTestBroker({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
      try {
        expect(s.url).toMatch(/^https:/);
        const port = s.broker.port;
        const handshake = (v: 'TLSv1.2' | 'TLSv1.3') =>
          new Promise<string>((resolve) => {
            const c = connect(
              { host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: v, maxVersion: v },
              () => {
                resolve(c.getProtocol() ?? 'none');
                c.end();
              },
            );
            c.on('error', () => resolve('refused'));
          });
        expect(await handshake('TLSv1.3')).toBe('TLSv1.3');
        expect(await handshake('TLSv1.2')).toBe('refused');
        const body = await new Promise<string>((resolve, reject) => {
          request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => resolve(b));
          })
            .on('error', reject)
            .end();
        });
        expect(JSON.parse(body)).toEqual({ status: 'ok' });
      } finally {
        await s.broker.close();
      }
    });
  }
});
