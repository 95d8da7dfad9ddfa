/**
 * Public API of the verifiable audit log. Other modules (anchoring/, server/,
 * cli/) import from here only.
 */

export { decodeBase64Strict, encodeBase64 } from './base64.js';
export {
  type Checkpoint,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type VerifiedCheckpoint,
} from './checkpoint.js';
export {
  COSIGNATURE_ED25519,
  COSIGNATURE_MLDSA44,
  type CosignatureAlgorithm,
  type CosignatureVerifier,
  type Cosigner,
  checkWitnessPolicy,
  generateCosignerKey,
  parseCosignatureVerifierKey,
  parseCosignerKey,
  type WitnessPolicy,
  type WitnessPolicyResult,
} from './cosignature.js';
export {
  canonicalEvent,
  eventLeafHash,
  type JsonValue,
  MAX_EVENT_BYTES,
  PreparedEvent,
} from './event.js';
export {
  type AppendResult,
  type AuditEntry,
  AuditLog,
  DEFAULT_MAX_BATCH,
  DEFAULT_ORIGIN,
  type OpenAuditLogOptions,
  openAuditLog,
  type StoredCheckpoint,
} from './log.js';
export * from './merkle/index.js';
export {
  ed25519KeyId,
  generateSignerKey,
  isValidKeyName,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
  openNote,
  type ParsedNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signerKeyFromSeed,
  signNote,
  signNoteAsync,
  verifierKeyFor,
} from './note.js';
export {
  type AnchorReference,
  assertAnchorReference,
  encodeAnchorExtra,
  formatReceipt,
  type ParsedReceipt,
  parseAnchorExtra,
  parseReceipt,
  RECEIPT_HEADER,
  type ReceiptSubject,
  type VerifiedReceipt,
  verifyReceipt,
} from './receipt.js';
export { AUDIT_MIGRATIONS } from './schema.js';
export { DEVELOPMENT_KEY_FILE, logSigningOptions, readSignerKeyFile } from './signing-key.js';
export { type CosigningOutcome, WitnessCosigning, type WitnessEndpoint } from './witness-client.js';
