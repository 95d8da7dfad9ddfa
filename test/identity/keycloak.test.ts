/**
 * The broker against a real Keycloak running the committed realm
 * (deploy/keycloak/pavilion-realm.json): every role's service account, with
 * its own client-credentials token, is allowed on its routes and refused on
 * the others; a person signs in with the authorization-code flow and acts in
 * their role; and a party keeps its datasets and jobs when Keycloak imports
 * the realm again and hands out new subject ids.
 *
 * Needs KEYCLOAK_URL (and the admin login for the re-import): .ci/run starts
 * Keycloak; without it the tests are skipped, or fail when CI is set.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoSchema } from '../../demo/people.js';
import { encodeBinaryDataset } from '../../server/datasets/upload.js';
import {
  KEYCLOAK,
  MUST_RUN,
  missingMessage,
  type RunningBroker,
  requireService,
  serviceLocation,
  startBrokerWith,
} from '../deploy/services.js';
import { api, b64, dropTestDatabase, expectProblem, randomClk } from '../server/helpers.js';
import {
  authorizationCodeToken,
  claimsOf,
  clientCredentialsToken,
  clientSecret,
  issuerOf,
  KeycloakAdmin,
  type RealmJson,
  readRealm,
} from './keycloak.js';

type Role = 'rp' | 'dp' | 'auditor' | 'admin';
const ROLES: Role[] = ['rp', 'dp', 'auditor', 'admin'];
const available = serviceLocation(KEYCLOAK) !== undefined;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 9100 + i));
const schemaBody = () => ({ schema: loadDemoSchema(), claims: ['over_18'], allow_broker_encoding: false });
const versionBody = () =>
  encodeBinaryDataset(
    1024,
    clks.map((clk, i) => ({ ref: `r${i}`, clk })),
    clks.map((_, i) => ({ over_18: i % 2 === 0 })),
  );
const BINARY = 'application/vnd.pavilion.dataset';

/**
 * Where tests fetch tokens and keys (KEYCLOAK_URL, as the broker container reaches `keycloak:8080` in
 * compose) and the issuer tokens name (KEYCLOAK_PUBLIC_URL, the one URL hosts and containers share,
 * Keycloak's --hostname; compose's http://localhost:8081). .ci/run starts Keycloak so that they differ.
 */
function endpoints(keycloakUrl: string, realm: string) {
  const backchannel = issuerOf(keycloakUrl, realm);
  return {
    backchannel,
    issuer: issuerOf(process.env.KEYCLOAK_PUBLIC_URL || keycloakUrl, realm),
    brokerSettings: (issuer: string) => ({
      OIDC_ISSUER: issuer,
      JWKS_URL: `${backchannel}/protocol/openid-connect/certs`,
    }),
  };
}

async function serviceTokens(realmUrl: string, realm: RealmJson): Promise<Record<Role, string>> {
  const entries = await Promise.all(
    ROLES.map(
      async (role) =>
        [
          role,
          await clientCredentialsToken(realmUrl, `pavilion-${role}`, clientSecret(realm, `pavilion-${role}`)),
        ] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<Role, string>;
}

function passwordOf(realm: RealmJson, username: string): string {
  const value = realm.users.find((u) => u.username === username)?.credentials?.[0]?.value;
  if (!value) throw new Error(`the realm has no password for ${username}`);
  return value;
}

describe.skipIf(!available && !MUST_RUN)('the committed Keycloak realm', () => {
  let issuer: string;
  let backchannel: string;
  let brokerSettings: (issuer: string) => Record<string, string>;
  let b: RunningBroker;
  let tokens: Record<Role, string>;
  let jobId = '';
  let pullId = '';
  const realm = readRealm();

  beforeAll(async () => {
    ({ issuer, backchannel, brokerSettings } = endpoints(requireService(KEYCLOAK), realm.realm));
    b = await startBrokerWith(brokerSettings(issuer));
    tokens = await serviceTokens(backchannel, realm);
    const put = await api(b.url, 'PUT', '/v1/datasets/ds', { token: tokens.dp, body: schemaBody() });
    expect(put.status, put.text).toBe(201);
    const up = await api(b.url, 'POST', '/v1/datasets/ds/versions', {
      token: tokens.dp,
      raw: versionBody(),
      contentType: BINARY,
    });
    expect(up.status, up.text).toBe(201);
    const job = await api(b.url, 'POST', '/v1/linkage-jobs', {
      token: tokens.rp,
      body: { dataset: 'ds', clks: [b64(clks[1]!)], threshold: 0.9, purpose: 'kyc' },
    });
    expect(job.status, job.text).toBe(202);
    jobId = job.json.id;
    const pull = await api(b.url, 'POST', '/v1/datasets/ds/pulls', {
      token: tokens.dp,
      body: { object: 'absent.jsonl' },
    });
    expect(pull.status, pull.text).toBe(202);
    pullId = pull.json.id;
    await b.broker.audit.checkpoint();
  }, 60_000);

  afterAll(async () => {
    await b?.close();
  });

  it('client-credentials tokens carry the broker audience, one role each and a pinned party', () => {
    for (const role of ROLES) {
      const claims = claimsOf(tokens[role]);
      expect(claims.iss).toBe(issuer);
      expect([claims.aud].flat()).toContain('pavilion');
      expect(claims.party).toBe(`pavilion-${role}`);
      expect((claims.realm_access as { roles: string[] }).roles.filter((r) => ROLES.includes(r as Role))).toEqual([
        role,
      ]);
    }
  });

  interface RouteCase {
    method: string;
    path: () => string;
    allowed: Role[];
    body?: () => unknown;
    raw?: () => Uint8Array;
  }
  const ROUTES: RouteCase[] = [
    { method: 'PUT', path: () => '/v1/datasets/ds', allowed: ['dp', 'admin'], body: schemaBody },
    { method: 'GET', path: () => '/v1/datasets/ds', allowed: ROLES },
    { method: 'POST', path: () => '/v1/datasets/ds/versions', allowed: ['dp', 'admin'], raw: versionBody },
    {
      method: 'PUT',
      path: () => '/v1/datasets/ds/secret',
      allowed: ['dp'],
      body: () => ({ secret: 'a long secret!' }),
    },
    {
      method: 'POST',
      path: () => '/v1/datasets/ds/pulls',
      allowed: ['dp', 'admin'],
      body: () => ({ object: 'x.jsonl' }),
    },
    { method: 'GET', path: () => `/v1/datasets/ds/pulls/${pullId}`, allowed: ['dp', 'admin'] },
    {
      method: 'POST',
      path: () => '/v1/verifications',
      allowed: ['rp'],
      body: () => ({ dataset: 'ds', clk: b64(clks[5]!), claims: ['over_18'], purpose: 'age_verification' }),
    },
    {
      method: 'POST',
      path: () => '/v1/linkage-jobs',
      allowed: ['rp'],
      body: () => ({ dataset: 'ds', clks: [b64(clks[2]!)], threshold: 0.95, purpose: 'kyc' }),
    },
    { method: 'GET', path: () => `/v1/linkage-jobs/${jobId}`, allowed: ['rp', 'admin'] },
    { method: 'GET', path: () => '/v1/audit/checkpoint', allowed: ROLES },
    { method: 'GET', path: () => '/v1/audit/proofs/inclusion?index=0', allowed: ROLES },
    { method: 'GET', path: () => '/v1/audit/receipts/0', allowed: ROLES },
    // Entry 0 is the dp's own dataset_defined event: a caller reads the events it caused (docs/audit.md).
    { method: 'GET', path: () => '/v1/audit/entries/0', allowed: ['auditor', 'admin', 'dp'] },
    { method: 'GET', path: () => '/v1/audit/tile/entries/000.p/1', allowed: ['auditor', 'admin'] },
    { method: 'GET', path: () => '/v1/parties', allowed: ['auditor', 'admin'] },
  ];

  for (const c of ROUTES) {
    for (const role of ROLES) {
      const allowed = c.allowed.includes(role);
      const route = `${c.method} ${c.path().replace(/\/[0-9a-f-]{36}$|\/$/, '/{id}')}`;
      it(`${route} as Keycloak ${role} → ${allowed ? '2xx' : '403'}`, async () => {
        const r = await api(b.url, c.method, c.path(), {
          token: tokens[role],
          ...(c.raw ? { raw: c.raw(), contentType: BINARY } : c.body ? { body: c.body() } : {}),
        });
        if (allowed) {
          expect(r.status, r.text.slice(0, 300)).toBeGreaterThanOrEqual(200);
          expect(r.status, r.text.slice(0, 300)).toBeLessThan(300);
        } else expectProblem(r, 403, 'FORBIDDEN_ROLE');
      });
    }
  }

  it('the party registry names the parties, not the regenerated subject ids', async () => {
    const r = await api(b.url, 'GET', '/v1/parties', { token: tokens.admin });
    const subjects = r.json.parties.map((p: { subject: string }) => p.subject);
    expect(subjects).toEqual(expect.arrayContaining(ROLES.map((role) => `pavilion-${role}`)));
    for (const role of ROLES) expect(subjects).not.toContain(claimsOf(tokens[role]).sub);
  });

  it('a person signs in with the authorization-code flow (PKCE) and acts in their role only', async () => {
    const alice = await authorizationCodeToken(backchannel, 'pavilion-console', 'alice', passwordOf(realm, 'alice'));
    expect(claimsOf(alice)).toMatchObject({ party: 'person-alice', azp: 'pavilion-console' });
    const verify = await api(b.url, 'POST', '/v1/verifications', {
      token: alice,
      body: { dataset: 'ds', clk: b64(clks[4]!), claims: ['over_18'], purpose: 'age_verification' },
    });
    expect(verify.status, verify.text).toBe(200);
    expect(verify.json.decision).toBe('match');
    expectProblem(await api(b.url, 'GET', '/v1/audit/entries/0', { token: alice }), 403, 'FORBIDDEN_ROLE');
    // Another data provider (a person with role dp) is a different party: not the owner of pavilion-dp's dataset.
    const dana = await authorizationCodeToken(backchannel, 'pavilion-console', 'dana', passwordOf(realm, 'dana'));
    expectProblem(
      await api(b.url, 'POST', '/v1/datasets/ds/versions', { token: dana, raw: versionBody(), contentType: BINARY }),
      403,
      'DATASET_NOT_OWNER',
    );
    // The RP's job is the pavilion-rp party's, not alice's, though both hold role rp.
    expectProblem(await api(b.url, 'GET', `/v1/linkage-jobs/${jobId}`, { token: alice }), 404, 'JOB_NOT_FOUND');
  }, 30_000);

  it('a wrong password is no login, and a token for another audience is refused', async () => {
    await expect(authorizationCodeToken(backchannel, 'pavilion-console', 'alice', 'not-the-password')).rejects.toThrow(
      /did not redirect back/,
    );
    const other = await startBrokerWith({ ...brokerSettings(issuer), OIDC_AUDIENCE: 'some-other-service' });
    try {
      expectProblem(await api(other.url, 'GET', '/v1/datasets/ds', { token: tokens.rp }), 401, 'AUTH_AUDIENCE_INVALID');
    } finally {
      await other.close();
    }
  }, 30_000);
});

describe.skipIf(!available && !MUST_RUN)('party identity across a realm re-import', () => {
  it('a data provider keeps its dataset and an RP its job when Keycloak imports the realm again', async () => {
    const keycloakUrl = requireService(KEYCLOAK);
    const admin = await KeycloakAdmin.login(
      keycloakUrl,
      process.env.KEYCLOAK_ADMIN_USER ?? 'admin',
      process.env.KEYCLOAK_ADMIN_PASSWORD ?? '',
    );
    // A copy of the committed realm under a name of its own, so the role table above keeps its realm.
    const realm: RealmJson = { ...readRealm(), realm: `pavilion-reimport-${randomBytes(4).toString('hex')}` };
    const { issuer, backchannel, brokerSettings } = endpoints(keycloakUrl, realm.realm);
    await admin.importRealm(realm);
    let b = await startBrokerWith(brokerSettings(issuer));
    const databaseUrl = b.databaseUrl;
    try {
      const before = await serviceTokens(backchannel, realm);
      expect((await api(b.url, 'PUT', '/v1/datasets/kept', { token: before.dp, body: schemaBody() })).status).toBe(201);
      const first = await api(b.url, 'POST', '/v1/datasets/kept/versions', {
        token: before.dp,
        raw: versionBody(),
        contentType: BINARY,
      });
      expect(first.status, first.text).toBe(201);
      const job = await api(b.url, 'POST', '/v1/linkage-jobs', {
        token: before.rp,
        body: { dataset: 'kept', clks: [b64(clks[1]!)], threshold: 0.9, purpose: 'kyc' },
      });
      expect(job.status, job.text).toBe(202);

      // The operator re-imports the realm (a new Keycloak database, a restore, a redeploy): new ids,
      // new signing keys. The broker restarts on the same database.
      await b.close({ keepDatabase: true });
      await admin.importRealm(realm);
      b = await startBrokerWith({ ...brokerSettings(issuer), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
      const after = await serviceTokens(backchannel, realm);
      expect(claimsOf(after.dp).sub).not.toBe(claimsOf(before.dp).sub);
      expect(claimsOf(after.dp).party).toBe(claimsOf(before.dp).party);

      const up = await api(b.url, 'POST', '/v1/datasets/kept/versions', {
        token: after.dp,
        raw: versionBody(),
        contentType: BINARY,
      });
      expect(up.status, up.text).toBe(201);
      const sameJob = await api(b.url, 'GET', `/v1/linkage-jobs/${job.json.id}`, { token: after.rp });
      expect(sameJob.status, sameJob.text).toBe(200);
      // A token from before the re-import is signed by a key the realm no longer has.
      expectProblem(await api(b.url, 'GET', '/v1/datasets/kept', { token: before.dp }), 401, 'AUTH_UNKNOWN_KEY');
    } finally {
      await b.close().catch(() => {});
      if (databaseUrl) await dropTestDatabase(databaseUrl);
      await admin.deleteRealm(realm.realm);
    }
  }, 90_000);
});

// Registered only when the service is missing, so a run that has it reports no skip.
if (!(available || MUST_RUN))
  describe('the committed Keycloak realm', () => {
    it.skip(missingMessage(KEYCLOAK), () => {});
  });
