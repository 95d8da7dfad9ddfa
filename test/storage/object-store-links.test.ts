/**
 * The local folder store (storage/object-store.ts, FolderObjectStore) follows no symbolic link below its
 * root: a key reached through one, as its last component or any folder on the way, whatever it points at
 * (another dataset's folder, a host file, the same dataset, nothing), is OBJECT_NOT_FOUND, as a missing
 * object is, and the target is never read. The root itself may be a link. A link swapped in and out while
 * objects are opened (a race between check and open) never makes the store read the link's target.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { FolderObjectStore, type StoredObject } from '../../storage/object-store.js';

const OWN = 'own dataset\n';
const OTHER = 'another dataset\n';
const HOST = 'host file\n';

async function read(o: StoredObject): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of o.body) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString();
}

async function outcome(store: FolderObjectStore, key: string): Promise<string> {
  try {
    return await read(await store.open(key));
  } catch (err) {
    expect(err).toBeInstanceOf(PavilionError);
    return (err as PavilionError).code;
  }
}

function layout(): { base: string; folder: string; p: string } {
  const base = mkdtempSync(join(tmpdir(), 'pavilion-links-'));
  const folder = join(base, 'objects');
  const p = join(folder, 'datasets', 'p');
  mkdirSync(join(p, 'real'), { recursive: true });
  mkdirSync(join(folder, 'datasets', 'other'), { recursive: true });
  writeFileSync(join(p, 'ok.jsonl'), OWN);
  writeFileSync(join(p, 'real', 'ok.jsonl'), OWN);
  writeFileSync(join(folder, 'datasets', 'other', 'o.jsonl'), OTHER);
  writeFileSync(join(base, 'host.txt'), HOST);
  return { base, folder, p };
}

describe('the local folder store and symbolic links', () => {
  const { base, folder, p } = layout();
  const store = new FolderObjectStore(folder);
  symlinkSync('../other/o.jsonl', join(p, 'stolen.jsonl'));
  symlinkSync(join(base, 'host.txt'), join(p, 'host.jsonl'));
  symlinkSync('/etc/passwd', join(p, 'passwd.jsonl'));
  symlinkSync('../other', join(p, 'otherdir'));
  symlinkSync(base, join(p, 'up'));
  symlinkSync('ok.jsonl', join(p, 'alias.jsonl'));
  symlinkSync('real', join(p, 'aliasdir'));
  symlinkSync('nowhere.jsonl', join(p, 'dangling.jsonl'));
  symlinkSync('stolen.jsonl', join(p, 'chain.jsonl'));
  symlinkSync('other', join(folder, 'datasets', 'q'));

  it('control: files reached through real folders are read', async () => {
    expect(await outcome(store, 'datasets/p/ok.jsonl')).toBe(OWN);
    expect(await outcome(store, 'datasets/p/real/ok.jsonl')).toBe(OWN);
    expect(await outcome(store, 'datasets/p/missing.jsonl')).toBe('OBJECT_NOT_FOUND');
  });

  const refused: [string, string][] = [
    ['a link to another dataset’s object', 'datasets/p/stolen.jsonl'],
    ['a link to a host file outside the root', 'datasets/p/host.jsonl'],
    ['a link to /etc/passwd', 'datasets/p/passwd.jsonl'],
    ['a folder link to another dataset’s folder', 'datasets/p/otherdir/o.jsonl'],
    ['a folder link out of the root', 'datasets/p/up/host.txt'],
    ['a link to a file of the same dataset (refused too)', 'datasets/p/alias.jsonl'],
    ['a folder link inside the same dataset (refused too)', 'datasets/p/aliasdir/ok.jsonl'],
    ['a dangling link', 'datasets/p/dangling.jsonl'],
    ['a chain of links', 'datasets/p/chain.jsonl'],
    ['a dataset folder that is itself a link', 'datasets/q/o.jsonl'],
  ];
  for (const [what, key] of refused)
    it(`${what}: OBJECT_NOT_FOUND, as a missing object`, async () => {
      expect(await outcome(store, key)).toBe('OBJECT_NOT_FOUND');
    });

  it('a FIFO left as an object is not an object, and opening it does not hang', async () => {
    try {
      execFileSync('mkfifo', [join(p, 'fifo.jsonl')]);
    } catch {
      return; // no mkfifo here
    }
    expect(await outcome(store, 'datasets/p/fifo.jsonl')).toBe('OBJECT_NOT_FOUND');
  });

  it('the root itself may be a link (STATE_DIR/objects on another volume)', async () => {
    const linkedRoot = join(base, 'objects-link');
    symlinkSync(folder, linkedRoot);
    const linked = new FolderObjectStore(linkedRoot);
    expect(await outcome(linked, 'datasets/p/ok.jsonl')).toBe(OWN);
    expect(await outcome(linked, 'datasets/p/stolen.jsonl')).toBe('OBJECT_NOT_FOUND');
  });
});

describe('a folder swapped for a link while objects are opened', () => {
  const { folder, p } = layout();
  const store = new FolderObjectStore(folder);
  mkdirSync(join(p, 'sub'));
  writeFileSync(join(p, 'sub', 'o.jsonl'), OWN);
  let toggler: ChildProcess | undefined;

  afterAll(() => {
    if (toggler?.pid !== undefined && toggler.exitCode === null) toggler.kill();
  });

  it('never reads the link’s target', async () => {
    // Another process flips datasets/p/sub between the real folder and a link to datasets/other, as fast
    // as it can: every open either finds the real object or none, never the other dataset's.
    const script = `
      const fs = require('node:fs');
      const sub = ${JSON.stringify(join(p, 'sub'))}, kept = sub + '.real';
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        fs.renameSync(sub, kept);
        fs.symlinkSync('../other', sub);
        fs.unlinkSync(sub);
        fs.renameSync(kept, sub);
      }`;
    toggler = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => toggler!.once('exit', resolve));
    const seen = new Map<string, number>();
    let running = true;
    void exited.then(() => (running = false));
    while (running) {
      const got = await outcome(store, 'datasets/p/sub/o.jsonl');
      seen.set(got, (seen.get(got) ?? 0) + 1);
    }
    expect(await exited).toBe(0);
    expect(seen.get(OTHER) ?? 0).toBe(0);
    expect([...seen.keys()].every((k) => k === OWN || k === 'OBJECT_NOT_FOUND')).toBe(true);
    // The toggler left the real folder in place: the object is read again.
    expect(await outcome(store, 'datasets/p/sub/o.jsonl')).toBe(OWN);
  }, 20_000);
});
