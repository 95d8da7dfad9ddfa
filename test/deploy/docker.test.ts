/**
 * The Docker files no engine runs here (docs/operations.md, "What CI runs for
 * real"): docker-compose.yml's mounts read as files, so what went wrong once
 * on a machine with Docker stays fixed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));

  it("keeps Keycloak's data in a volume mounted at /opt/keycloak/data, a folder the image has", () => {
    // The volume was mounted at /opt/keycloak/data/h2, which the image does not have: Docker made it owned by
    // root, Keycloak (uid 1000) could not write its H2 database and restarted forever, and the broker waited for
    // a healthy Keycloak forever. A volume mounted where the image has a folder takes that folder's owner.
    const mounts: string[] = compose.services.keycloak.volumes;
    const named = mounts.filter((m) => !/^[./]/.test(m));
    expect(named).toEqual(['keycloakdata:/opt/keycloak/data']);
    expect(Object.keys(compose.volumes)).toContain('keycloakdata');
  });
});
