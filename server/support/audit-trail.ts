/**
 * How the broker writes to its audit log: events from the one vocabulary (audit-events.ts), parties
 * named so that an e-mail-shaped subject never enters the log in clear, query CLKs as keyed hashes,
 * and the time each append waits for durability observed for /metrics. The answer to a request waits
 * for `record` to resolve, so an acknowledged decision is always in the log.
 */
import { createHmac } from 'node:crypto';
import { type AuditLog, PreparedEvent } from '../../audit/index.js';
import type { AuditEvent } from './audit-events.js';

const AUDIT_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
const EMAIL_SHAPED = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DIGEST_PREFIX = 'hmac-sha256:';

/**
 * Subjects and tenants (parties, not the people verified) go into audit
 * events as they are when they fit the log's identifier alphabet (Keycloak
 * subjects are UUIDs, client ids are names). One that does not, or that is
 * shaped like an e-mail address (a person's, when an issuer uses those as
 * subjects), becomes `hmac-sha256:` + a keyed digest (the audit hash key,
 * HKDF from MASTER_KEY): stable, so events of one caller still group, but
 * not reversible by hashing a list of addresses, as a plain digest would be.
 *
 * The mapping is one-to-one: a name that itself starts with `hmac-sha256:`
 * is hashed too, so a kept name never spells a digest. Were it kept, a party
 * named after another's digest would be that party in the log, and would read
 * its entries (routes/audit.ts, causedBy compares these strings). Only such
 * names change spelling: every other name kept before is kept still, so the
 * events already written keep naming the same parties.
 */
export function auditIdentifier(id: string, key: Uint8Array): string {
  if (AUDIT_ID.test(id) && !EMAIL_SHAPED.test(id) && !id.startsWith(DIGEST_PREFIX)) return id;
  const digest = createHmac('sha256', key).update('pavilion audit identifier\0').update(id, 'utf8');
  return `${DIGEST_PREFIX}${digest.digest('base64url')}`;
}

export interface Recorded {
  index: number;
  leafHash: Uint8Array;
}

export class AuditTrail {
  constructor(
    private readonly log: AuditLog,
    /** HKDF-derived from MASTER_KEY (support/master-keys.ts). */
    private readonly hashKey: Uint8Array,
    /** The policy bundle in force (policy/), whose version every event names. */
    private readonly policy: { readonly version: string },
    private readonly observeAppend: (seconds: number) => void,
  ) {}

  get origin(): string {
    return this.log.origin;
  }

  /** A subject or tenant as events name it (auditIdentifier). */
  party(subjectOrTenant: string): string {
    return auditIdentifier(subjectOrTenant, this.hashKey);
  }

  /** Keyed hash of a query CLK: events can be grouped by query without the log confirming a guessed CLK. */
  queryHash(clk: Uint8Array): string {
    return createHmac('sha256', this.hashKey).update(clk).digest('base64url');
  }

  /**
   * Appends `event`; resolves once it is durable. Every event names the policy bundle in force: a
   * verification carries the version that decided it (`policy_decision_id`), the others get
   * `policy_version` here.
   */
  async record(event: AuditEvent | PreparedEvent): Promise<Recorded> {
    const started = performance.now();
    // A prepared event is a verification (preparedVerificationEvent), which names its policy_decision_id.
    const stamped =
      event instanceof PreparedEvent || 'policy_decision_id' in event
        ? event
        : { ...event, policy_version: this.policy.version };
    const r = await this.log.append(stamped);
    this.observeAppend((performance.now() - started) / 1000);
    return r;
  }
}
