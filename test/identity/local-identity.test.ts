/**
 * The local development issuer: key generated once and persisted with mode
 * 0600, a second process (here: a second instance on the same key file, and
 * mintDevToken as the CLI calls it) mints tokens the first one accepts.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalIdentity, createVerifier, mintDevToken } from '../../identity/index.js';

const ISSUER = 'http://127.0.0.1:8080';
const AUDIENCE = 'pavilion';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pavilion-identity-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('local identity', () => {
  it('generates an ES256 key on first use, persisted with mode 0600', async () => {
    const keyFile = join(dir, 'nested', 'identity-key.json');
    const id = await createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE });
    const info = await stat(keyFile);
    expect(info.mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(keyFile, 'utf8'));
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256', kid: id.keyId, alg: 'ES256' });
    expect(typeof stored.d).toBe('string');
    // The public set never carries the private scalar.
    expect(id.jwks.keys).toHaveLength(1);
    expect(id.jwks.keys[0]).not.toHaveProperty('d');
    expect(id.jwks.keys[0]).toMatchObject({ kid: id.keyId, alg: 'ES256', use: 'sig' });
  });

  it('mints tokens its own verifier accepts, with the requested roles, tenant and ttl', async () => {
    const id = await createLocalIdentity({ keyFile: join(dir, 'k1.json'), issuer: ISSUER, audience: AUDIENCE });
    const token = await id.mint({ sub: 'acme', roles: ['rp', 'auditor'], ttlSec: 120, tenant: 'acme-eu' });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: id.keyId, typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(claims.iss).toBe(ISSUER);
    expect(typeof claims.jti).toBe('string');
    const p = await id.verifier.verify(`Bearer ${token}`);
    expect(p).toMatchObject({ subject: 'acme', tenant: 'acme-eu', expiresAt: claims.exp, tokenId: claims.jti });
    expect([...p.roles].sort()).toEqual(['auditor', 'rp']);
  });

  it('a separately created instance on the same key file (the CLI) mints tokens the broker accepts', async () => {
    const keyFile = join(dir, 'shared.json');
    const broker = await createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE });
    const cliToken = await mintDevToken({
      role: 'rp',
      sub: 'acme',
      ttlSec: 60,
      keyFile,
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect((await broker.verifier.verify(`Bearer ${cliToken}`)).subject).toBe('acme');
    const again = await createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE });
    expect(again.keyId).toBe(broker.keyId);
    // The JWKS the broker serves is enough for anyone else to verify.
    const external = createVerifier({ issuer: ISSUER, audience: AUDIENCE, localJwks: broker.jwks });
    expect((await external.verify(`Bearer ${cliToken}`)).roles.has('rp')).toBe(true);
  });

  it('concurrent first use agrees on one key', async () => {
    const keyFile = join(dir, 'race.json');
    const ids = await Promise.all(
      [1, 2, 3, 4].map(() => createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE })),
    );
    expect(new Set(ids.map((i) => i.keyId)).size).toBe(1);
  });

  it('a token for another audience or issuer, or from another key file, is rejected', async () => {
    const keyFile = join(dir, 'a.json');
    const broker = await createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE });
    const otherAud = await mintDevToken({ role: 'rp', sub: 'x', keyFile, issuer: ISSUER, audience: 'elsewhere' });
    await expect(broker.verifier.verify(`Bearer ${otherAud}`)).rejects.toMatchObject({ code: 'AUTH_AUDIENCE_INVALID' });
    const otherIss = await mintDevToken({
      role: 'rp',
      sub: 'x',
      keyFile,
      issuer: 'http://127.0.0.1:9999',
      audience: AUDIENCE,
    });
    await expect(broker.verifier.verify(`Bearer ${otherIss}`)).rejects.toMatchObject({ code: 'AUTH_ISSUER_INVALID' });
    const otherKey = await mintDevToken({
      role: 'rp',
      sub: 'x',
      keyFile: join(dir, 'b.json'),
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    await expect(broker.verifier.verify(`Bearer ${otherKey}`)).rejects.toMatchObject({
      code: 'AUTH_UNKNOWN_KEY',
      // says how to get a token this broker accepts (issue: the token command from another folder)
      message: expect.stringContaining('npx pavilion token --state-dir'),
    });
  });

  it('rejects bad mint requests with stable codes', async () => {
    const id = await createLocalIdentity({ keyFile: join(dir, 'k2.json'), issuer: ISSUER, audience: AUDIENCE });
    await expect(id.mint({ sub: 'a', roles: ['superuser'] })).rejects.toMatchObject({
      code: 'TOKEN_ROLE_INVALID',
      status: 400,
    });
    await expect(id.mint({ sub: 'a', roles: [] })).rejects.toMatchObject({ code: 'TOKEN_ROLE_INVALID' });
    await expect(id.mint({ sub: '', roles: ['rp'] })).rejects.toMatchObject({ code: 'TOKEN_SUBJECT_INVALID' });
    // Names the broker itself would refuse (AUTH_MALFORMED) are not minted: a lone surrogate, a NUL.
    for (const sub of ['d\ud800', 'dp\u0000x', 'a'.repeat(256)])
      await expect(id.mint({ sub, roles: ['rp'] })).rejects.toMatchObject({ code: 'TOKEN_SUBJECT_INVALID' });
    await expect(id.mint({ sub: 'a', roles: ['rp'], ttlSec: 0 })).rejects.toMatchObject({ code: 'TOKEN_TTL_INVALID' });
    await expect(id.mint({ sub: 'a', roles: ['rp'], ttlSec: 1e9 })).rejects.toMatchObject({
      code: 'TOKEN_TTL_INVALID',
    });
  });

  it('refuses a key file readable by others, or one that is not a private P-256 JWK', async () => {
    const keyFile = join(dir, 'loose.json');
    await createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE });
    await chmod(keyFile, 0o644);
    await expect(createLocalIdentity({ keyFile, issuer: ISSUER, audience: AUDIENCE })).rejects.toMatchObject({
      code: 'IDENTITY_KEY_INSECURE',
    });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'k' }), { mode: 0o600 });
    await expect(createLocalIdentity({ keyFile: bad, issuer: ISSUER, audience: AUDIENCE })).rejects.toMatchObject({
      code: 'IDENTITY_KEY_INVALID',
    });
    const notJson = join(dir, 'garbage.json');
    await writeFile(notJson, 'not json', { mode: 0o600 });
    const err = await createLocalIdentity({ keyFile: notJson, issuer: ISSUER, audience: AUDIENCE }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'IDENTITY_KEY_INVALID' });
  });
});
