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
  callRoute,
  DATASET_CONTENT_TYPE,
  datasetBody,
  ROLES,
  type Role,
  roleFixtures,
  roleRoutes,
  routeLabel,
  setUpRoleFixtures,
  versionBody as versionOf,
} from '../server/role-routes.js';
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

const available = serviceLocation(KEYCLOAK) !== undefined;
const clks = Array.from({ length: 50 }, (_, i) => randomClk(1024, 9100 + i));
const versionBody = () => versionOf(clks);
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
  const fixtures = roleFixtures(clks);
  const realm = readRealm();

  beforeAll(async () => {
    ({ issuer, backchannel, brokerSettings } = endpoints(requireService(KEYCLOAK), realm.realm));
    b = await startBrokerWith(brokerSettings(issuer));
    tokens = await serviceTokens(backchannel, realm);
    await setUpRoleFixtures(b.url, tokens, fixtures);
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

  // The broker's own routes only: the public ones are test/server/access.test.ts's.
  const ROUTES = roleRoutes(fixtures).filter((c) => c.allowed !== 'public');

  for (const c of ROUTES) {
    for (const role of ROLES) {
      const allowed = c.allowed !== 'public' && c.allowed.includes(role);
      it(`${routeLabel(c)} as Keycloak ${role} → ${allowed ? '2xx' : '403'}`, async () => {
        const r = await callRoute(b.url, c, tokens[role]);
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
      await api(b.url, 'POST', '/v1/datasets/ds/versions', {
        token: dana,
        raw: versionBody(),
        contentType: DATASET_CONTENT_TYPE,
      }),
      403,
      'DATASET_NOT_OWNER',
    );
    // The RP's job is the pavilion-rp party's, not alice's, though both hold role rp.
    expectProblem(
      await api(b.url, 'GET', `/v1/linkage-jobs/${fixtures.jobId}`, { token: alice }),
      404,
      'JOB_NOT_FOUND',
    );
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
    // One MASTER_KEY and one audit signing key for both starts, as for any broker on one database
    // (docs/operations.md): the second is refused otherwise (server/support/master-keys.ts, proveMasterKey; a
    // development signing key that did not sign the log's latest checkpoint, audit/log.ts).
    const masterKey = {
      MASTER_KEY: randomBytes(32).toString('base64'),
      AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
    };
    let b = await startBrokerWith({ ...brokerSettings(issuer), ...masterKey });
    const databaseUrl = b.databaseUrl;
    try {
      const before = await serviceTokens(backchannel, realm);
      expect((await api(b.url, 'PUT', '/v1/datasets/kept', { token: before.dp, body: datasetBody() })).status).toBe(
        201,
      );
      const first = await api(b.url, 'POST', '/v1/datasets/kept/versions', {
        token: before.dp,
        raw: versionBody(),
        contentType: DATASET_CONTENT_TYPE,
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
      b = await startBrokerWith({
        ...brokerSettings(issuer),
        ...masterKey,
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      });
      const after = await serviceTokens(backchannel, realm);
      expect(claimsOf(after.dp).sub).not.toBe(claimsOf(before.dp).sub);
      expect(claimsOf(after.dp).party).toBe(claimsOf(before.dp).party);

      const up = await api(b.url, 'POST', '/v1/datasets/kept/versions', {
        token: after.dp,
        raw: versionBody(),
        contentType: DATASET_CONTENT_TYPE,
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
