/** Settings (server/config.ts): defaults, environment, CONFIG_FILE, refusals that name the variable only. */
import { describe, expect, it } from 'vitest';
import type { PavilionError } from '../../common/errors.js';
import { loadConfig, MAX_CONTENT_LENGTH, SETTINGS, settingsMarkdown } from '../../server/config.js';

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
  it('says why a setting is refused, never with its value', () => {
    expect(() => loadConfig({ PORT: '99999' })).toThrow('PORT (Number must be less than or equal to 65535)');
    expect(() => loadConfig({ PORT: 'abc' })).toThrow('PORT (expected a decimal integer)');
  });
  it('an empty or blank value counts as unset: the default applies, for every setting', () => {
    // docker-compose passes `PORT: ${PORT}` with PORT unset as PORT=''; it was read as port 0 (a random one),
    // AMBIGUITY_MARGIN='' as 0 (no `ambiguous` decision), HOST='' refused.
    const defaults = loadConfig({});
    for (const blank of ['', '  '])
      expect(loadConfig(Object.fromEntries(SETTINGS.map((s) => [s.env, blank])))).toEqual(defaults);
    expect(defaults).toMatchObject({
      port: 8080,
      ambiguityMargin: 0.02,
      cacheLruEntries: 100_000,
      demoRecords: 100_000,
    });
  });
  it('numbers are plain decimal (integers where integers are meant), anything else is refused by name', () => {
    for (const v of ['0x46B0', '1e3', '8080.0', '0b1', '0o17', 'Infinity', '+80', '80 80', '٨٠'])
      expect(() => loadConfig({ PORT: v }), v).toThrow(/^invalid setting\(s\): PORT \(expected a decimal integer\)$/);
    for (const v of ['0x1', '1e-2', '5%', 'NaN'])
      expect(() => loadConfig({ AMBIGUITY_MARGIN: v }), v).toThrow('AMBIGUITY_MARGIN (expected a decimal number)');
    expect(() => loadConfig({ ENGINE_THREADS: '0x2' })).toThrow('ENGINE_THREADS (expected a decimal integer)');
    expect(() => loadConfig({ ANCHOR_DEPLOY_BLOCK: '1e6' })).toThrow(
      'ANCHOR_DEPLOY_BLOCK (expected a decimal integer)',
    );
    expect(() => loadConfig({ PORT: '-1' })).toThrow('PORT (Number must be greater than or equal to 0)');
    // zod's bare regex said only "Invalid": the expected form is named instead.
    expect(() => loadConfig({ ANCHOR_CONTRACT: `0x${'a'.repeat(39)}` })).toThrow(
      /^invalid setting\(s\): ANCHOR_CONTRACT \(expected 0x and 40 hex digits\)$/,
    );
    expect(loadConfig({ PORT: ' 9000 ', AMBIGUITY_MARGIN: '.05', ANCHOR_DEPLOY_BLOCK: '123' })).toMatchObject({
      port: 9000,
      ambiguityMargin: 0.05,
      anchoring: { deployBlock: 123 },
    });
    expect(loadConfig({ AMBIGUITY_MARGIN: '0' }).ambiguityMargin).toBe(0);
  });
  it('URL settings are checked at load: a malformed one is refused by name, its password never repeated', () => {
    // postgres's own parser threw "Invalid URL" at start-up with the URL, password included, as a property
    for (const url of [
      'postgres://pavilion:TopSecretPw@127.0.0.1:99999999/db',
      'TopSecretPw',
      'mysql://u:TopSecretPw@h/db',
    ])
      expect(() => loadConfig({ DATABASE_URL: url })).toThrow(
        /^invalid setting\(s\): DATABASE_URL \(expected a postgres:\/\/ or postgresql:\/\/ URL\)$/,
      );
    expect(loadConfig({ DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db' }).databaseUrl).toBe(
      'postgresql://u:p@127.0.0.1:5432/db',
    );
    const issuer = { OIDC_ISSUER: 'https://keycloak.example/realms/x' };
    for (const name of ['OIDC_ISSUER', 'JWKS_URL', 'ETH_RPC_URL']) {
      expect(() => loadConfig({ ...issuer, [name]: 'keycloak.example/realms/x' })).toThrow(
        `${name} (expected a https:// or http:// URL)`,
      );
      expect(() => loadConfig({ ...issuer, [name]: 'https://keycloak.example/realms/x' })).not.toThrow();
    }
  });
  it('JWKS_URL needs OIDC_ISSUER: without it no `iss` was checked and tokens of any issuer were let in', () => {
    expect(() => loadConfig({ JWKS_URL: 'https://idp.example/keys' })).toThrow(
      /^invalid setting\(s\): JWKS_URL \(needs OIDC_ISSUER, the `iss` its tokens must carry\)$/,
    );
    const c = loadConfig({ JWKS_URL: 'https://idp.example/keys', OIDC_ISSUER: 'https://idp.example/realms/a' });
    expect(c.identity).toMatchObject({ jwksUrl: 'https://idp.example/keys', issuer: 'https://idp.example/realms/a' });
  });
  it('POLICY_BUNDLE_KEY_ALG takes the public-key algorithms tokens may use (identity/algorithms.ts), no HMAC', () => {
    expect(loadConfig({ POLICY_BUNDLE_KEY_ALG: 'Ed25519' }).policy.keyAlg).toBe('Ed25519');
    expect(loadConfig({ POLICY_BUNDLE_KEY_ALG: 'ES384' }).policy.keyAlg).toBe('ES384');
    for (const alg of ['HS256', 'none'])
      expect(() => loadConfig({ POLICY_BUNDLE_KEY_ALG: alg })).toThrow(/POLICY_BUNDLE_KEY_ALG/);
  });
  it('CONFIG_FILE supplies settings; the environment wins over it', async () => {
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'pv-config-'));
    const file = join(dir, 'broker.json');
    try {
      writeFileSync(file, JSON.stringify({ PORT: 9100, AMBIGUITY_MARGIN: 0.05 }));
      expect(loadConfig({ CONFIG_FILE: file })).toMatchObject({ port: 9100, ambiguityMargin: 0.05 });
      expect(loadConfig({ CONFIG_FILE: file, PORT: '9200' }).port).toBe(9200);
      // An empty environment value is unset: it no longer hides the file's value.
      expect(loadConfig({ CONFIG_FILE: file, PORT: '', AMBIGUITY_MARGIN: ' ' })).toMatchObject({
        port: 9100,
        ambiguityMargin: 0.05,
      });
      // An empty value in the file is unset too: the default applies.
      writeFileSync(file, JSON.stringify({ PORT: '', HOST: '', DEMO_RECORDS: 7 }));
      expect(loadConfig({ CONFIG_FILE: file })).toMatchObject({ port: 8080, host: '127.0.0.1', demoRecords: 7 });
      // A misspelt key is named, not ignored (a user trial's {"PROT": …} started a broker on the default port).
      for (const key of ['PROT', '__proto__', 'toString']) {
        writeFileSync(file, `{"PORT": 9100, ${JSON.stringify(key)}: 1}`);
        expect(() => loadConfig({ CONFIG_FILE: file })).toThrow(`CONFIG_FILE: "${key}" is not a setting`);
      }
      writeFileSync(file, '[1]');
      expect(() => loadConfig({ CONFIG_FILE: file })).toThrow(/CONFIG_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('body limits stay within the largest Content-Length uWS reads; a pull may be larger', () => {
    // uWS 20.30 drops a request declaring 10 digits or more, unanswered: a limit above could never be reached.
    expect(MAX_CONTENT_LENGTH).toBe(999_999_999);
    const { limits } = loadConfig({});
    for (const limit of [limits.body, limits.upload, limits.jobBody]) expect(limit).toBeLessThanOrEqual(999_999_999);
    for (const name of ['BODY_LIMIT_BYTES', 'UPLOAD_LIMIT_BYTES', 'JOB_BODY_LIMIT_BYTES']) {
      expect(() => loadConfig({ [name]: '1000000000' })).toThrow(`${name} (Number must be less than or equal to`);
      expect(() => loadConfig({ [name]: '999999999' })).not.toThrow();
    }
    expect(limits.pull).toBe(2 ** 30);
    expect(loadConfig({ PULL_LIMIT_BYTES: String(2 ** 40) }).limits.pull).toBe(2 ** 40);
  });
  it('TLS needs both files', () => {
    expect(() => loadConfig({ TLS_CERT_FILE: '/a.pem' })).toThrow(/TLS_KEY_FILE/);
  });
  it('the README table lists every setting', () => {
    const md = settingsMarkdown();
    for (const s of SETTINGS) expect(md).toContain(`\`${s.env}\``);
  });
});
