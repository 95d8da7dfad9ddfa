/**
 * `pavilion block` and `pavilion link` with blocking, as a user runs them
 * (child processes), on the CLI fixtures (test/fixtures/cli, made with
 * clkhash 0.18.3 and anonlink 0.15.3).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';

const run = promisify(execFile);
const fixture = (name: string) => fromRoot('test', 'fixtures', 'cli', name);
const tmp = mkdtempSync(join(tmpdir(), 'pavilion-block-'));

async function pavilion(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', fromRoot('cli', 'main.ts'), ...args], {
      cwd: fromRoot(),
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const clkFile = (name: string) => {
  const path = join(tmp, `${name}.txt`);
  writeFileSync(
    path,
    `${(JSON.parse(readFileSync(fixture(`${name}.json`), 'utf8')) as { clks: string[] }).clks.join('\n')}\n`,
  );
  return path;
};
const a = clkFile('clks-a');
const b = clkFile('clks-b');
const expected = readFileSync(fixture('links.csv'), 'utf8').trimEnd().split('\n');
const config = (name: string, json: unknown) => {
  const path = join(tmp, name);
  writeFileSync(path, JSON.stringify(json));
  return path;
};

describe('pavilion link with blocking', () => {
  it("LSH (blocklib's lambda-fold on CLKs) with enough bands finds every pair anonlink finds", async () => {
    const lsh = config('lsh.json', {
      type: 'lambda-fold',
      version: 1,
      config: {
        'blocking-features': [1],
        Lambda: 40,
        'bf-len': 1024,
        'num-hash-funcs': 1,
        K: 6,
        'input-clks': true,
        random_state: 1,
      },
    });
    const r = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '0.8', '--blocking', lsh]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
  });

  it('p-sig blocks from pavilion block: only pairs anonlink finds, and those sharing a block', async () => {
    const psig = config('psig.json', {
      type: 'p-sig',
      version: 1,
      config: {
        'blocking-features': ['given_name', 'dob'],
        filter: { type: 'ratio', max: 0.5 },
        'blocking-filter': { type: 'bloom filter', 'number-hash-functions': 4, 'bf-len': 2048 },
        signatureSpecs: [
          [{ type: 'feature-value', feature: 'given_name' }],
          [{ type: 'feature-value', feature: 'dob' }],
        ],
      },
    });
    const blocksA = join(tmp, 'blocks-a.json');
    const blocksB = join(tmp, 'blocks-b.json');
    for (const [csv, out] of [
      ['people-a.csv', blocksA],
      ['people-b.csv', blocksB],
    ] as const) {
      const r = await pavilion(['block', '--config', psig, '--in', fixture(csv), '--out', out]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const written = JSON.parse(readFileSync(blocksA, 'utf8')) as { blocks: Record<string, string[]> };
    expect(Object.keys(written.blocks).length).toBeGreaterThan(100);
    const r = await pavilion([
      'link',
      '--dataset',
      a,
      '--queries',
      b,
      '--threshold',
      '0.8',
      '--dataset-blocks',
      blocksA,
      '--queries-blocks',
      blocksB,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    // re-typed people keep their given name and date of birth, so every anonlink pair shares a block
    expect(lines).toEqual(expected);
  });

  it('refuses what it cannot use, with a code and no stack trace', async () => {
    const half = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '0.8', '--dataset-blocks', a]);
    expect(half.code).toBe(1);
    expect(half.stderr).toMatch(/^pavilion: BLOCKS_INVALID: /);
    const bad = config('bad.json', { type: 'lambda-fold', version: 1, config: { K: 99 } });
    const r = await pavilion(['link', '--dataset', a, '--queries', b, '--threshold', '0.8', '--blocking', bad]);
    expect(r.stderr).toMatch(/^pavilion: BLOCKING_CONFIG_INVALID: /);
    const few = await pavilion([
      'link',
      '--dataset',
      a,
      '--queries',
      b,
      '--threshold',
      '0.8',
      '--guidance',
      join(tmp, 'g.json'),
    ]);
    expect(few.stderr).toMatch(/^pavilion: GUIDANCE_TOO_FEW_SCORES: .* \(found \d+ and \d+\): link more queries, /);
    expect(few.stderr).toMatch(/, or leave out --guidance for the pairs\n$/);
    expect(few.stdout).toBe('');
    const notCsv = await pavilion(['block', '--config', bad, '--in', fixture('people-a.csv')]);
    expect(notCsv.stderr).toMatch(/^pavilion: BLOCKING_CONFIG_INVALID: /);
    // Bytes that are not UTF-8 would block on U+FFFD where the CLKs (pavilion encode refuses them) cannot be made.
    const people = readFileSync(fixture('people-a.csv'));
    const lines = people.toString('utf8').trimEnd().split('\n').length;
    const latin1 = join(tmp, 'latin1.csv');
    writeFileSync(latin1, Buffer.concat([people, Buffer.from('r99,ren'), Buffer.from([0xe9]), Buffer.from(',x,,\n')]));
    const psig = join(tmp, 'psig.json'); // written by the p-sig test above
    const notUtf8 = await pavilion(['block', '--config', psig, '--in', latin1]);
    expect(notUtf8.stderr).toBe(`pavilion: CSV_INVALID: line ${lines + 1}: not valid UTF-8\n`);
  });

  it('refuses a record of another width than the header as encode does, naming its line in the file', async () => {
    const psig = join(tmp, 'psig.json'); // written by the p-sig test above
    const header = 'rec_id,given_name,surname,dob,postcode';
    const csv = (name: string, rows: string[]) => {
      const path = join(tmp, name);
      // A blank line and a quoted line break: lines of the file are counted, not records.
      writeFileSync(path, `${[header, '', 'r0,"mei\nling",lee,,1519', ...rows].join('\n')}\n`);
      return path;
    };
    const long = await pavilion(['block', '--config', psig, '--in', csv('long.csv', ['r1,ann,lee,1980-01-02,1234,x'])]);
    expect(long.code).toBe(1);
    expect(long.stdout).toBe('');
    expect(long.stderr).toBe('pavilion: RECORD_FIELD_COUNT: line 5: 6 columns, the header has 5\n');
    const short = await pavilion(['block', '--config', psig, '--in', csv('short.csv', ['r1,ann'])]);
    expect(short.code).toBe(1);
    expect(short.stderr).toBe('pavilion: RECORD_FIELD_COUNT: line 5: 2 columns, the header has 5\n');
    const toFolder = await pavilion(['block', '--config', psig, '--in', fixture('people-a.csv'), '--out', tmp]);
    expect(toFolder.stderr).toBe(`pavilion: OUTPUT_UNWRITABLE: ${tmp}: cannot write (EISDIR)\n`);
    // --out naming an input is refused and the input kept (a user check: the people CSV was replaced by its blocks).
    const people = csv('people-copy.csv', ['r1,ann,lee,1980-01-02,1234']);
    const before = readFileSync(people);
    for (const [out, option] of [
      [people, `--in ${people}`],
      [psig, `--config ${psig}`],
    ] as const) {
      const over = await pavilion(['block', '--config', psig, '--in', people, '--out', out]);
      expect(over.code).toBe(1);
      expect(over.stderr).toBe(`pavilion: OUTPUT_UNWRITABLE: ${out}: cannot write (the same file as ${option})\n`);
    }
    expect(readFileSync(people).equals(before)).toBe(true);
    expect(JSON.parse(readFileSync(psig, 'utf8'))).toHaveProperty('type');
  });
});
