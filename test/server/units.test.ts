/**
 * Pure parts of the server: upload parsers (incremental vs whole-body
 * differential, random chunk boundaries), the greedy 1:1 solver against a
 * brute-force reference, the decision rule, problem mapping, config parsing.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { seededRandom } from '../../demo/people.js';
import { greedySolve, type ScoredPair } from '../../engine/solvers/greedy.js';
import { loadConfig, SETTINGS, settingsMarkdown } from '../../server/config.js';
import { BinaryParser, encodeBinaryDataset, JsonlParser, RowCollector } from '../../server/datasets/upload.js';
import { toProblem } from '../../server/http/problem.js';
import { decide } from '../../server/verification/decision.js';
import { b64, randomClk } from './helpers.js';

function feed(parser: JsonlParser | BinaryParser, body: Buffer, rnd: () => number): void {
  for (let at = 0; at < body.length; ) {
    const n = 1 + Math.floor(rnd() * 300);
    parser.push(body.subarray(at, at + n));
    at += n;
  }
  parser.end();
}

const CLAIMS = new Set(['a', 'b']);
const rows = Array.from({ length: 257 }, (_, i) => ({
  ref: `r-${i}-é`,
  clk: randomClk(256, i + 1),
  claims: i % 3 ? { a: i % 2 === 0, b: i } : null,
}));

describe('upload parsers', () => {
  it('JSONL: any chunking gives the same rows as the whole body', () => {
    const body = Buffer.from(
      `${rows
        .map((r) => JSON.stringify({ ref: r.ref, clk: b64(r.clk), ...(r.claims ? { claims: r.claims } : {}) }))
        .join('\r\n')}\n\n`,
    );
    for (let seed = 1; seed <= 5; seed++) {
      const c = new RowCollector(256, CLAIMS, 100);
      feed(new JsonlParser(c), body, seededRandom(seed));
      expect(c.refs).toEqual(rows.map((r) => r.ref));
      expect(c.claims).toEqual(rows.map((r) => r.claims));
      expect(Buffer.from(c.allClksConcatenated())).toEqual(Buffer.concat(rows.map((r) => r.clk)));
    }
  });

  it('binary: any chunking gives the same rows, claims included', () => {
    const body = encodeBinaryDataset(
      256,
      rows,
      rows.map((r) => r.claims),
    );
    for (let seed = 1; seed <= 5; seed++) {
      const c = new RowCollector(256, CLAIMS, 100);
      feed(new BinaryParser(c), body, seededRandom(seed));
      expect(c.refs).toEqual(rows.map((r) => r.ref));
      expect(c.claims).toEqual(rows.map((r) => r.claims));
      expect(Buffer.from(c.allClksConcatenated())).toEqual(Buffer.concat(rows.map((r) => r.clk)));
    }
  });

  it('chunks for the database cover every row exactly once, in order', () => {
    const c = new RowCollector(256, CLAIMS, 100);
    const p = new JsonlParser(c);
    const refs: string[] = [];
    for (const r of rows) {
      p.push(Buffer.from(`${JSON.stringify({ ref: r.ref, clk: b64(r.clk) })}\n`));
      for (let ch = c.takeChunk(); ch; ch = c.takeChunk()) {
        expect(ch.refs.length).toBe(100);
        refs.push(...ch.refs);
      }
    }
    p.end();
    const last = c.takeChunk(true)!;
    expect(last.clks.length).toBe(last.refs.length * 32);
    refs.push(...last.refs);
    expect(refs).toEqual(rows.map((r) => r.ref));
  });

  const code = (fn: () => void): string => {
    try {
      fn();
    } catch (err) {
      return (err as PavilionError).code;
    }
    return 'none';
  };
  const jsonl = (text: string) => () => {
    const p = new JsonlParser(new RowCollector(256, CLAIMS, 100));
    p.push(Buffer.from(text));
    p.end();
  };
  const clk = b64(randomClk(256, 1));

  it('JSONL errors carry stable codes', () => {
    expect(code(jsonl(`{"ref":"a","clk":"${clk}"}\n{"ref":"a","clk":"${clk}"}`))).toBe('UPLOAD_DUPLICATE_REF');
    expect(code(jsonl(`{"ref":"a","clk":"${clk}","claims":{"zzz":1}}`))).toBe('UPLOAD_CLAIM_UNKNOWN');
    expect(code(jsonl(`{"ref":"a","clk":"${clk}","claims":{"a":[1]}}`))).toBe('UPLOAD_ROW_INVALID');
    expect(code(jsonl(`{"ref":"","clk":"${clk}"}`))).toBe('UPLOAD_ROW_INVALID');
    expect(code(jsonl(`{"ref":"a","clk":"***"}`))).toBe('CLK_BASE64_INVALID');
    expect(code(jsonl(`{"ref":"a","clk":"${b64(randomClk(128, 1))}"}`))).toBe('CLK_LENGTH_MISMATCH');
    expect(code(jsonl(`[1,2]`))).toBe('UPLOAD_LINE_INVALID');
    expect(code(jsonl('x'.repeat(70_000)))).toBe('UPLOAD_LINE_TOO_LONG');
  });

  it('binary errors carry stable codes', () => {
    const bin = (body: Buffer) => () => {
      const p = new BinaryParser(new RowCollector(256, CLAIMS, 100));
      p.push(body);
      p.end();
    };
    const good = encodeBinaryDataset(256, rows.slice(0, 3));
    expect(code(bin(Buffer.from(`NOPE${good.subarray(4).toString('latin1')}`, 'latin1')))).toBe(
      'UPLOAD_BINARY_INVALID',
    );
    expect(code(bin(encodeBinaryDataset(512, [{ ref: 'a', clk: randomClk(512, 1) }])))).toBe('CLK_LENGTH_MISMATCH');
    expect(code(bin(good.subarray(0, good.length - 1)))).toBe('UPLOAD_TRUNCATED');
    expect(code(bin(Buffer.concat([good, Buffer.from([5, 0, 0, 0, 0x5b])])))).toBe('UPLOAD_TRUNCATED');
    expect(
      code(bin(Buffer.concat([encodeBinaryDataset(256, rows.slice(0, 3), [null, null, null]), Buffer.from('x')]))),
    ).toBe('UPLOAD_BINARY_INVALID');
    expect(code(bin(encodeBinaryDataset(256, rows.slice(0, 3), [null, null] as never)))).toBe('UPLOAD_BINARY_INVALID');
  });
});

describe('greedy 1:1 solution', () => {
  /** Reference: repeatedly take the globally best remaining pair whose sides are both free. */
  function reference(pairs: ScoredPair[]): ScoredPair[] {
    const left = [...pairs];
    const out: ScoredPair[] = [];
    const q = new Set<number>();
    const r = new Set<number>();
    for (;;) {
      let best: ScoredPair | undefined;
      for (const p of left) {
        if (q.has(p.query) || r.has(p.index)) continue;
        if (
          !best ||
          p.score > best.score ||
          (p.score === best.score && (p.query < best.query || (p.query === best.query && p.index < best.index)))
        )
          best = p;
      }
      if (!best) return out;
      out.push(best);
      q.add(best.query);
      r.add(best.index);
    }
  }
  it('agrees with the brute-force reference on random pair sets', () => {
    const rnd = seededRandom(42);
    for (let trial = 0; trial < 50; trial++) {
      const pairs: ScoredPair[] = [];
      for (let k = 0; k < 60; k++)
        pairs.push({
          query: Math.floor(rnd() * 15),
          index: Math.floor(rnd() * 15),
          score: Math.round(rnd() * 20) / 20,
        });
      const g = greedySolve(pairs);
      expect(g).toEqual(reference(pairs));
      expect(new Set(g.map((p) => p.query)).size).toBe(g.length);
      expect(new Set(g.map((p) => p.index)).size).toBe(g.length);
    }
  });
  it('known answer', () => {
    const pairs = [
      { query: 0, index: 0, score: 0.9 },
      { query: 0, index: 1, score: 0.95 },
      { query: 1, index: 1, score: 0.97 },
      { query: 1, index: 0, score: 0.5 },
    ];
    expect(greedySolve(pairs)).toEqual([pairs[2], pairs[0]]);
  });
});

describe('decision rule', () => {
  it('no candidate → no_match with score 0', () =>
    expect(decide([], 0.8, 0.02)).toEqual({ decision: 'no_match', score: 0, index: null }));
  it('candidates below min score are ignored', () =>
    expect(decide([{ index: 1, score: 0.79 }], 0.8, 0.02).decision).toBe('no_match'));
  it('one candidate → match', () =>
    expect(decide([{ index: 4, score: 0.9 }], 0.8, 0.02)).toEqual({ decision: 'match', score: 0.9, index: 4 }));
  it('clearly ahead → match', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.85 },
          { index: 4, score: 0.95 },
        ],
        0.8,
        0.02,
      ),
    ).toEqual({ decision: 'match', score: 0.95, index: 4 }));
  it('within the margin → ambiguous', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.94 },
          { index: 4, score: 0.95 },
        ],
        0.8,
        0.02,
      ),
    ).toEqual({ decision: 'ambiguous', score: 0.95, index: null }));
  it('second below min score does not make it ambiguous', () =>
    expect(
      decide(
        [
          { index: 2, score: 0.799 },
          { index: 4, score: 0.81 },
        ],
        0.8,
        0.02,
      ).decision,
    ).toBe('match'));
});

describe('audit identifiers', () => {
  it('keeps ordinary subjects; replaces odd or e-mail-shaped ones by a keyed digest', async () => {
    const { auditIdentifier } = await import('../../server/support/audit-trail.js');
    const key = new Uint8Array(32).fill(7);
    const otherKey = new Uint8Array(32).fill(8);
    expect(auditIdentifier('acme-bank', key)).toBe('acme-bank');
    expect(auditIdentifier('svc:broker', key)).toBe('svc:broker');
    expect(auditIdentifier('5b0c2a4e-1d5e-4c8b-9d7e-0a1b2c3d4e5f', key)).toBe('5b0c2a4e-1d5e-4c8b-9d7e-0a1b2c3d4e5f');
    for (const personal of ['Jane Doe (HR)', 'jane.doe@example.org', 'j@x.io']) {
      const id = auditIdentifier(personal, key);
      expect(id).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
      expect(id).toBe(auditIdentifier(personal, key)); // stable: one caller's events still group
      expect(id).not.toBe(auditIdentifier(personal, otherKey)); // keyed: a list of addresses does not reverse it
      expect(id).not.toBe(`hmac-sha256:${createHash('sha256').update(personal).digest('base64url')}`);
    }
    // An @ that is not an address (a Keycloak service account, say) stays readable.
    expect(auditIdentifier('service-account@realm', key)).toBe('service-account@realm');
  });
});

describe('problem mapping', () => {
  it('a PavilionError keeps its status and code', () => {
    expect(toProblem(new PavilionError('DATASET_NOT_FOUND', 'no such dataset'))).toMatchObject({
      status: 404,
      code: 'DATASET_NOT_FOUND',
      detail: 'no such dataset',
      title: 'Not Found',
    });
  });
  it('anything else is 500 INTERNAL without detail leak', () => {
    let seen: unknown;
    const p = toProblem(new Error('secret stuff at /home/x'), (e) => (seen = e));
    expect(p).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(p)).not.toContain('secret stuff');
    expect(seen).toBeInstanceOf(Error);
  });
});

describe('config', () => {
  it('defaults: port 8080, embedded everything', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    expect(c.tls).toBeUndefined();
  });
  it('reads env vars', () => {
    const c = loadConfig({
      PORT: '9000',
      REDIS_URL: 'redis://127.0.0.1:6379',
      ENGINE_THREADS: '3',
      ENGINE_SIMD: 'false',
      AMBIGUITY_MARGIN: '0.05',
    });
    expect(c).toMatchObject({
      port: 9000,
      redisUrl: 'redis://127.0.0.1:6379',
      engine: { threads: 3, simd: false },
      ambiguityMargin: 0.05,
    });
  });
  it('bad values → CONFIG_INVALID naming the variable, not the value', () => {
    try {
      loadConfig({ PORT: 'eighty', MASTER_KEY: 'x', LOG_LEVEL: 'loud-SECRETVALUE' });
      expect.unreachable();
    } catch (err) {
      expect((err as PavilionError).code).toBe('CONFIG_INVALID');
      expect((err as Error).message).toContain('PORT');
      expect((err as Error).message).toContain('LOG_LEVEL');
      expect((err as Error).message).not.toContain('SECRETVALUE');
    }
  });
  it('CONFIG_FILE supplies settings; the environment wins over it', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'pv-config-')), 'broker.json');
    writeFileSync(file, JSON.stringify({ PORT: 9100, AMBIGUITY_MARGIN: 0.05, NOT_A_SETTING: 1 }));
    expect(loadConfig({ CONFIG_FILE: file })).toMatchObject({ port: 9100, ambiguityMargin: 0.05 });
    expect(loadConfig({ CONFIG_FILE: file, PORT: '9200' }).port).toBe(9200);
    writeFileSync(file, '[1]');
    expect(() => loadConfig({ CONFIG_FILE: file })).toThrow(/CONFIG_FILE/);
  });

  it('TLS needs both files', () => {
    expect(() => loadConfig({ TLS_CERT_FILE: '/a.pem' })).toThrow(/TLS_KEY_FILE/);
  });
  it('the README table lists every setting', () => {
    const md = settingsMarkdown();
    for (const s of SETTINGS) expect(md).toContain(`\`${s.env}\``);
  });
});
