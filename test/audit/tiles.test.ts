/**
 * C2SP tlog-tiles: path spelling (the spec's own examples), and tiles served
 * by the log against an independent in-memory tree, down to a client that
 * rebuilds proofs from tiles alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditLog,
  consistencyProofFromSource,
  eventLeafHash,
  formatTileIndex,
  formatTilePath,
  generateSignerKey,
  inclusionProofFromSource,
  MemoryMerkleTree,
  nodeHash,
  openAuditLog,
  parseTilePath,
  TILE_WIDTH,
  type TileRef,
} from '../../audit/index.js';
import { openTestDatabase, type TestDatabase } from './db.js';
import { errorCodeAsync as code } from './error-code.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('tlog-tiles paths', () => {
  it('spell indices as the spec does', () => {
    expect(formatTileIndex(1234067)).toBe('x001/x234/067');
    expect(formatTileIndex(0)).toBe('000');
    expect(formatTileIndex(999)).toBe('999');
    expect(formatTileIndex(1000)).toBe('x001/000');
    expect(formatTilePath({ kind: 'hashes', level: 4, index: 1234067, width: 8 })).toBe('tile/4/x001/x234/067.p/8');
    expect(formatTilePath({ kind: 'entries', index: 5, width: TILE_WIDTH })).toBe('tile/entries/005');
  });

  it('parse exactly what they format, and nothing else', () => {
    const samples: TileRef[] = [
      { kind: 'hashes', level: 0, index: 0, width: 256 },
      { kind: 'hashes', level: 0, index: 1234067, width: 8 },
      { kind: 'hashes', level: 63, index: 1000, width: 255 },
      { kind: 'hashes', level: 2, index: 2 ** 45, width: 1 },
      { kind: 'entries', index: 42, width: 256 },
      { kind: 'entries', index: 1234067, width: 17 },
    ];
    for (const t of samples) expect(parseTilePath(formatTilePath(t).slice('tile/'.length))).toEqual(t);
    for (const bad of [
      '',
      '0',
      '0/',
      '00/000',
      '01/000',
      '64/000',
      '-1/000',
      'a/000', // level
      '0/0',
      '0/00',
      '0/0000',
      '0/1234',
      '0/x1/000',
      '0/001/000',
      '0/x000/001',
      '0/X001/000', // index spelling
      '0/000.p/0',
      '0/000.p/256',
      '0/000.p/08',
      '0/000.p/',
      '0/000.p',
      '0/000.p/1/2', // width
      '0/x001/x002/x003/x004/x005/x006/007', // beyond 2^53
      'entries',
      'entries/',
      'entries/5',
      'entries/000.p/300',
      'data/000',
    ]) {
      expect(parseTilePath(bad), bad).toBeNull();
    }
  });
});

describe('tiles served by the log', () => {
  let db: TestDatabase;
  let log: AuditLog;
  // Two levels of tiles with partial edges: 273 full level-0 tiles, a level-0
  // partial of width 112, one full level-1 tile and a level-1 partial of width 17.
  const N = 70_000;
  const tree = new MemoryMerkleTree();
  const signerKey = generateSignerKey('pavilion.test/tiles');

  beforeAll(async () => {
    db = await openTestDatabase();
    log = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/tiles', signerKey, maxBatch: 4096 });
    for (let start = 0; start < N; start += 10_000) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10_000, N - start) }, (_, i) => log.append({ type: 'tile-test', i: start + i })),
      );
      for (const r of batch.sort((a, b) => a.index - b.index)) tree.appendLeafHash(r.leafHash);
    }
  }, 120_000);

  afterAll(async () => {
    await log?.close();
    await db?.close();
  });

  const expected = (level: number, index: number, width: number) => {
    const out = Buffer.alloc(width * 32);
    for (let i = 0; i < width; i++) out.set(tree.source(8 * level, index * 256 + i), i * 32);
    return hex(out);
  };

  it('full and partial tiles hold the subtree hashes the spec defines', async () => {
    expect(tree.size).toBe(N);
    for (const [level, index, width] of [
      [0, 0, 256],
      [0, 100, 256],
      [0, 272, 256],
      [0, 273, 112],
      [0, 273, 5],
      [1, 0, 256],
      [1, 1, 17],
      [2, 0, 1],
    ] as const) {
      expect(hex(await log.tile(level, index, width)), `${level}/${index}/${width}`).toBe(
        expected(level, index, width),
      );
    }
    // Read from the database too (a process holding nothing in memory).
    const cold = await openAuditLog({ sql: db.sql, origin: 'pavilion.test/tiles', signerKey, cacheBytes: 0 });
    try {
      expect(hex(await cold.tile(0, 7, 256))).toBe(expected(0, 7, 256));
      expect(hex(await cold.tile(1, 1, 17))).toBe(expected(1, 1, 17));
    } finally {
      await cold.close();
    }
  });

  it('a tile the committed tree does not have yet is TILE_NOT_FOUND', async () => {
    for (const [level, index, width] of [
      [0, 273, 113],
      [0, 274, 1],
      [1, 1, 18],
      [1, 2, 1],
      [2, 0, 2],
      [3, 0, 1],
    ] as const) {
      expect(await code(log.tile(level, index, width)), `${level}/${index}/${width}`).toBe('TILE_NOT_FOUND');
    }
    expect(await code(log.entryBundle(273, 113))).toBe('TILE_NOT_FOUND');
  });

  it('entry bundles are uint16-length-prefixed canonical events that hash to the level-0 tile', async () => {
    for (const [index, width] of [
      [0, 256],
      [273, 112],
    ] as const) {
      const bundle = Buffer.from(await log.entryBundle(index, width));
      const tile = Buffer.from(await log.tile(0, index, width));
      let at = 0;
      for (let i = 0; i < width; i++) {
        const len = bundle.readUInt16BE(at);
        const event = bundle.subarray(at + 2, at + 2 + len).toString('utf8');
        at += 2 + len;
        expect(JSON.parse(event).type).toBe('tile-test');
        expect(hex(eventLeafHash(event))).toBe(hex(tile.subarray(i * 32, i * 32 + 32)));
      }
      expect(at).toBe(bundle.length);
    }
  });

  it('a client holding only tiles rebuilds the proofs the log serves', async () => {
    // What a tlog-tiles client does: any perfect subtree from the tile at its
    // level (a multiple of 8), or hashed up from the tile level below it.
    const tiles = new Map<string, Uint8Array>();
    const size = N;
    const fetchTile = async (level: number, index: number) => {
      const width = Math.min(256, Math.floor(size / 256 ** level) - index * 256);
      const key = `${level}/${index}`;
      if (!tiles.has(key)) tiles.set(key, await log.tile(level, index, width));
      return tiles.get(key)!;
    };
    const nodeFromTiles = async (l: number, i: number): Promise<Uint8Array> => {
      if (l % 8 === 0) {
        const tile = await fetchTile(l / 8, Math.floor(i / 256));
        return tile.subarray((i % 256) * 32, (i % 256) * 32 + 32);
      }
      return nodeHash(await nodeFromTiles(l - 1, 2 * i), await nodeFromTiles(l - 1, 2 * i + 1));
    };
    const needed = new Map<string, Uint8Array>();
    const collect = (l: number, i: number) => {
      needed.set(`${l}/${i}`, new Uint8Array(0));
      return new Uint8Array(32);
    };
    for (const [m, n] of [
      [0, N],
      [12_345, N],
      [N - 1, N],
      [65_536, N],
      [300, 65_537],
    ] as const) {
      // Plan which subtrees the proof needs, fetch them from tiles, then assemble.
      needed.clear();
      inclusionProofFromSource(m, n, collect);
      consistencyProofFromSource(m + 1, n, collect);
      for (const key of needed.keys()) {
        const [l, i] = key.split('/').map(Number) as [number, number];
        needed.set(key, await nodeFromTiles(l, i));
      }
      const source = (l: number, i: number) => needed.get(`${l}/${i}`)!;
      expect(inclusionProofFromSource(m, n, source).map(hex)).toEqual((await log.inclusionProof(m, n)).map(hex));
      expect(consistencyProofFromSource(m + 1, n, source).map(hex)).toEqual(
        (await log.consistencyProof(m + 1, n)).map(hex),
      );
    }
  });
});
