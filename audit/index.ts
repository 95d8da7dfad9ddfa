/**
 * Public API of the verifiable audit log. Other modules (anchoring/, server/,
 * cli/) import from here only.
 */
export {
  AuditLog,
  openAuditLog,
  DEFAULT_ORIGIN,
  DEFAULT_MAX_BATCH,
  type OpenAuditLogOptions,
  type AppendResult,
  type AuditEntry,
  type StoredCheckpoint,
} from './log.js';
export { AUDIT_MIGRATIONS } from './schema.js';
export {
  canonicalEvent,
  eventLeafHash,
  verificationEvent,
  MAX_EVENT_BYTES,
  type JsonValue,
  type Decision,
  type VerificationEventFields,
} from './event.js';
export {
  generateSignerKey,
  signerKeyFromSeed,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyFor,
  ed25519KeyId,
  isValidKeyName,
  signNote,
  parseNote,
  openNote,
  MAX_NOTE_SIGNATURES,
  type NoteSigner,
  type NoteVerifier,
  type NoteSignature,
  type ParsedNote,
  type OpenedNote,
} from './note.js';
export { formatCheckpoint, parseCheckpoint, signCheckpoint, openCheckpoint, type Checkpoint, type VerifiedCheckpoint } from './checkpoint.js';
export {
  RECEIPT_HEADER,
  formatReceipt,
  parseReceipt,
  verifyReceipt,
  encodeAnchorExtra,
  assertAnchorReference,
  type AnchorReference,
  type ParsedReceipt,
  type VerifiedReceipt,
  type ReceiptSubject,
} from './receipt.js';
export { decodeBase64Strict, encodeBase64 } from './base64.js';
export * from './merkle/index.js';
