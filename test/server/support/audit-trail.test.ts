/** Audit identifiers (server/support/audit-trail.ts): no personal data in a subject that reaches the log. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

describe('audit identifiers', () => {
  it('keeps ordinary subjects; replaces odd or e-mail-shaped ones by a keyed digest', async () => {
    const { auditIdentifier } = await import('../../../server/support/audit-trail.js');
    const key = new Uint8Array(32).fill(7);
    const otherKey = new Uint8Array(32).fill(8);
    expect(auditIdentifier('acme-bank', key)).toBe('acme-bank');
    expect(auditIdentifier('svc:broker', key)).toBe('svc:broker');
    expect(auditIdentifier('5b0c2a4e-1d5e-4c8b-9d7e-0a1b2c3d4e5f', key)).toBe('5b0c2a4e-1d5e-4c8b-9d7e-0a1b2c3d4e5f');
    for (const personal of ['Jane Doe (HR)', 'jane.doe@example.org', 'j@x.io']) {
      const id = auditIdentifier(personal, key);
      expect(id).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
      expect(id).toBe(auditIdentifier(personal, key)); // stable: one caller's events still group
      expect(id).not.toBe(auditIdentifier(personal, otherKey)); // keyed: a list of addresses does not reverse it
      expect(id).not.toBe(`hmac-sha256:${createHash('sha256').update(personal).digest('base64url')}`);
    }
    // An @ that is not an address (a Keycloak service account, say) stays readable.
    expect(auditIdentifier('service-account@realm', key)).toBe('service-account@realm');
  });

  it('is one-to-one: a name spelled like a digest is hashed too, so it never stands for another party', async () => {
    const { auditIdentifier } = await import('../../../server/support/audit-trail.js');
    const key = new Uint8Array(32).fill(7);
    const digest = auditIdentifier('vic@x.org', key);
    const impostor = auditIdentifier(digest, key);
    expect(impostor).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
    expect(impostor).not.toBe(digest);
    expect(auditIdentifier('hmac-sha256:', key)).not.toBe('hmac-sha256:');
    // A different spelling of the prefix is not a digest, and no digest spells it: kept as before.
    expect(auditIdentifier('HMAC-SHA256:abc', key)).toBe('HMAC-SHA256:abc');
  });
});
