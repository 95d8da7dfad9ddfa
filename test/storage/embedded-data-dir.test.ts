/**
 * PGLITE_DATA_DIR is checked before PGlite sees it (storage/embedded-server.ts): a file there was
 * `pavilion: INTERNAL: the broker failed to start` / `embedded database failed to start: [object Object]` and a stack;
 * a folder of unrelated files was filled with PG_VERSION, base/, global/ and pg_* by PGlite's initdb. Found by an
 * outside probe. Real PGlite throughout; the last case runs server/main.ts as `pavilion serve` does.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../../common/paths.js';
import { failureText, startEmbeddedServer } from '../../storage/embedded-server.js';

const root = mkdtempSync(join(tmpdir(), 'pavilion-data-dir-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const file = join(root, 'a-file');
writeFileSync(file, 'not a folder\n');

describe('PGLITE_DATA_DIR', () => {
  it('a file is CONFIG_INVALID naming the setting', async () => {
    await expect(startEmbeddedServer(file)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'invalid setting(s): PGLITE_DATA_DIR (not a folder)',
    });
  });

  it("a folder of someone's files is refused and left as it was", async () => {
    const mine = join(root, 'mine');
    mkdirSync(join(mine, 'photos'), { recursive: true });
    writeFileSync(join(mine, 'notes.txt'), 'x');
    await expect(startEmbeddedServer(mine)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message:
        'invalid setting(s): PGLITE_DATA_DIR (a folder that is neither empty nor a PostgreSQL data folder: ' +
        'it has no PG_VERSION)',
    });
    expect(readdirSync(mine).sort()).toEqual(['notes.txt', 'photos']);
  });

  it('a missing folder is made (0700) and used; the data folder it becomes opens again', async () => {
    const dir = join(root, 'new', 'data');
    const first = await startEmbeddedServer(dir);
    await first.stop();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toContain('PG_VERSION');
    const again = await startEmbeddedServer(dir);
    await again.stop();
  }, 60_000);

  it("PGlite's own rejection is told as text, not [object Object]", async () => {
    // emscripten's ErrnoError, not an Error and without a message: what a file as the data folder got from PGlite.
    const err = await PGlite.create(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(Error);
    expect(failureText(err)).toBe('ErrnoError ENOTDIR (errno 54)');
    expect(failureText(new Error('PGlite failed to initialize properly'))).toBe('PGlite failed to initialize properly');
  }, 60_000);

  it('a data folder PGlite cannot open is DATABASE_UNAVAILABLE with what PGlite said', async () => {
    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'PG_VERSION'), '9\n');
    await expect(startEmbeddedServer(broken)).rejects.toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      message: 'the embedded database failed to start (PGLITE_DATA_DIR): PGlite failed to initialize properly',
    });
  }, 60_000);

  it('`pavilion serve` prints one line, no stack', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fromRoot('server', 'main.ts')], {
      cwd: fromRoot(),
      env: {
        PATH: process.env.PATH ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        STATE_DIR: join(root, 'state'),
        PGLITE_DATA_DIR: file,
        DEMO_RECORDS: '0',
        ANCHORING: 'off',
        ENGINE_THREADS: '1',
        LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('pavilion: CONFIG_INVALID: invalid setting(s): PGLITE_DATA_DIR (not a folder)\n');
  }, 60_000);
});
