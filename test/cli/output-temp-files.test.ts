/**
 * An output file is written to a hidden temporary file beside it (cli/output.ts). A command stopped by a
 * signal removes it before exiting (exit 128 + the signal's number); one killed outright leaves it, and the
 * next command writing the same file on this host removes it, and only it: another host's temporary file
 * (a shared folder) and the file itself are kept. The command reads stdin that stays open, so it is still
 * running, with its temporary file open, when the signal comes.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { hostTag } from '../../common/processes.js';
import { pavilion, spawnPavilion } from './pavilion.js';

const schema = fromRoot('demo', 'schema.json');
const secret = fromRoot('test', 'fixtures', 'cli', 'secret.txt');
const people = fromRoot('test', 'fixtures', 'cli', 'people-a.csv');
const out = (dir: string) => join(dir, 'clks.txt');

/** `pavilion encode --out <dir>/clks.txt` on an open stdin, once its temporary file exists. */
async function encodingToStdinThatStaysOpen(dir: string): Promise<ChildProcess> {
  const child = spawnPavilion(['encode', '--schema', schema, '--secret-file', secret, '--out', out(dir)]);
  child.stdin.write('rec_id,given_name,surname,dob,postcode\n');
  for (let i = 0; i < 400 && temps(dir).length === 0 && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(temps(dir)).toHaveLength(1);
  return child;
}

const temps = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

describe('the temporary file of an --out file', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('is removed when %s stops the command (exit %i)', async (signal, code) => {
    const dir = mkdtempSync(join(tmpdir(), 'pavilion-output-temp-'));
    const child = await encodingToStdinThatStaysOpen(dir);
    child.kill(signal);
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    expect(exitCode).toBe(code);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('left by SIGKILL, is removed by the next command writing that file on this host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pavilion-output-temp-'));
    const child = await encodingToStdinThatStaysOpen(dir);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const [left] = temps(dir);
    expect(left).toMatch(new RegExp(`^\\.clks\\.txt\\.${hostTag().replaceAll('.', '\\.')}\\.${child.pid}\\.`));
    const otherHost = `.clks.txt.not-${hostTag()}.${child.pid}.0123456789ab.tmp`;
    const otherFile = `.other.txt.${hostTag()}.${child.pid}.0123456789ab.tmp`;
    writeFileSync(join(dir, otherHost), 'x');
    writeFileSync(join(dir, otherFile), 'x');
    const r = await pavilion([
      'encode',
      '--schema',
      schema,
      '--secret-file',
      secret,
      '--in',
      people,
      '--out',
      out(dir),
    ]);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([otherFile, otherHost, 'clks.txt'].sort());
  });
});
