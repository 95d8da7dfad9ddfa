/**
 * The error catalogue: every code the broker, its engine and its command line can raise, with the one
 * HTTP status it maps to and what it means. `PavilionError` takes its status from here, so a code never
 * answers with two statuses; `docs/errors.md` is generated from this list (`npm run docs:errors`) and
 * `test/common/error-codes.test.ts` keeps the two, the OpenAPI document and the source in step.
 *
 * Codes are the contract (clients branch on them, never on messages). A code is never renamed or
 * reused for another meaning; a new one is added here first, in its area, in alphabetical order.
 */

export type ErrorArea =
  | 'request'
  | 'auth'
  | 'datasets'
  | 'uploads'
  | 'pulls'
  | 'verification'
  | 'linkage'
  | 'engine'
  | 'encoding'
  | 'audit'
  | 'anchoring'
  | 'auditor-tools'
  | 'command-line'
  | 'client'
  | 'development'
  | 'startup'
  | 'internal';

export interface ErrorSpec {
  readonly status: number;
  readonly area: ErrorArea;
  /** What happened and what the caller can do, in one or two sentences (docs/errors.md). */
  readonly meaning: string;
}

const spec = (status: number, area: ErrorArea, meaning: string): ErrorSpec => ({ status, area, meaning });

export const ERROR_CODES = {
  // --- request: HTTP and WebSocket framing, bodies, routes --------------------------------------------
  ALREADY_AUTHENTICATED: spec(
    409,
    'request',
    'A WebSocket `auth` message arrived on a connection already authenticated.',
  ),
  BODY_EMPTY: spec(400, 'request', 'The request needs a JSON body and none was sent.'),
  BODY_INVALID_JSON: spec(
    400,
    'request',
    'The body is not a JSON object in UTF-8, or a WebSocket message is not a JSON object.',
  ),
  CLIENT_ABORTED: spec(499, 'request', 'The client went away before the answer; nothing is sent (logged only).'),
  LENGTH_REQUIRED: spec(
    411,
    'request',
    'A request body must be framed by one Content-Length; Transfer-Encoding is refused.',
  ),
  MESSAGE_TYPE_UNKNOWN: spec(
    422,
    'request',
    'A WebSocket message `type` other than auth, verify, subscribe, cancel or ping.',
  ),
  METHOD_NOT_ALLOWED: spec(
    405,
    'request',
    'The path exists but not for this method; the `Allow` header lists those that do.',
  ),
  PAYLOAD_TOO_LARGE: spec(413, 'request', "The body is longer than the route's limit; the connection is closed."),
  REQUEST_FRAMING_INVALID: spec(400, 'request', 'Two Content-Length headers; the connection is closed.'),
  ROUTE_NOT_FOUND: spec(404, 'request', 'No route has this path.'),
  SHUTTING_DOWN: spec(503, 'request', 'The broker is stopping; retry on another replica or after the restart.'),
  SLOW_CONSUMER: spec(
    429,
    'request',
    'The WebSocket reader has too many unread answers; read them before sending more.',
  ),
  TOO_MANY_IN_FLIGHT: spec(429, 'request', 'Too many verifications in flight on one WebSocket (`WS_MAX_IN_FLIGHT`).'),
  UPGRADE_REQUIRED: spec(426, 'request', 'A plain GET on the WebSocket endpoint: send Upgrade: websocket.'),
  UNSUPPORTED_MEDIA_TYPE: spec(
    415,
    'request',
    'The Content-Type (or a binary WebSocket frame) is not one the route reads.',
  ),
  VALIDATION_FAILED: spec(
    422,
    'request',
    'A body field, path or query parameter breaks its schema; `errors` lists the paths.',
  ),

  // --- auth: bearer tokens and roles ---------------------------------------------------------------------
  AUTH_ALG_NOT_ALLOWED: spec(401, 'auth', 'The token is signed with an algorithm outside `JWT_ALGORITHMS`.'),
  AUTH_AUDIENCE_INVALID: spec(401, 'auth', "The token's `aud` does not include `OIDC_AUDIENCE`."),
  AUTH_EXPIRED: spec(401, 'auth', 'The token has expired (over HTTP, or while a WebSocket was open); get a fresh one.'),
  AUTH_INTERNAL: spec(500, 'auth', 'Token verification failed for a reason that is not the token (logged).'),
  AUTH_ISSUER_INVALID: spec(401, 'auth', "The token's `iss` is not the configured issuer."),
  AUTH_KEYS_UNAVAILABLE: spec(503, 'auth', "The issuer's key set (JWKS) cannot be fetched right now."),
  AUTH_MALFORMED: spec(
    401,
    'auth',
    'The Authorization header or the token is not a well-formed Bearer JWS, or its `sub`, `party` or `tenant` ' +
      'is not a usable name (1–255 characters of well-formed Unicode, no control characters).',
  ),
  AUTH_MISSING: spec(401, 'auth', 'No `Authorization: Bearer` token was sent.'),
  AUTH_NOT_YET_VALID: spec(401, 'auth', "The token's `nbf` is in the future."),
  AUTH_SIGNATURE_INVALID: spec(401, 'auth', "The token's signature does not verify."),
  AUTH_UNKNOWN_KEY: spec(401, 'auth', "The token's `kid` is not in the issuer's key set."),
  FORBIDDEN_ROLE: spec(403, 'auth', 'The token is valid but carries none of the roles the route needs.'),
  TOKEN_ROLE_INVALID: spec(400, 'auth', 'Minting a development token: a role outside rp, dp, auditor, admin.'),
  TOKEN_SUBJECT_INVALID: spec(
    400,
    'auth',
    'Minting a development token: `sub` is not 1–255 characters of well-formed Unicode without control characters.',
  ),
  TOKEN_TTL_INVALID: spec(400, 'auth', 'Minting a development token: the lifetime is out of range.'),

  // --- datasets: definitions, versions, secrets ---------------------------------------------------------
  DATASET_CLAIM_TYPE_CONFLICT: spec(
    409,
    'datasets',
    "A claim's new type does not fit values a live version holds (version, record and claim named), or an upload runs.",
  ),
  DATASET_CORRUPT: spec(500, 'datasets', "A stored version's rows do not read back as written (logged)."),
  DATASET_EMPTY: spec(422, 'datasets', 'A version (or a CLK file) holds no records.'),
  DATASET_INVALID: spec(422, 'datasets', 'Rows handed to the engine are inconsistent (refs, CLKs and sizes disagree).'),
  DATASET_NOT_FOUND: spec(404, 'datasets', 'No dataset has this id (or it was deleted).'),
  DATASET_NOT_OWNER: spec(403, 'datasets', 'The dataset belongs to another data provider.'),
  DATASET_NOT_READY: spec(409, 'datasets', 'The dataset is defined but has no active version yet.'),
  DATASET_POLICY_MISMATCH: spec(
    422,
    'datasets',
    'The definition names purposes or claims the policy will never allow (named); GET /v1/policy lists them.',
  ),
  DATASET_SCHEMA_CONFLICT: spec(
    409,
    'datasets',
    'The new definition changes the linkage schema of a dataset with live versions (loading, staged, active or ' +
      'previous); a new schema needs a new dataset, or this one deleted and re-encoded.',
  ),
  DATASET_SECRET_MISSING: spec(
    409,
    'datasets',
    'Broker-side encoding needs the linkage secret, which the DP has not registered.',
  ),
  DATASET_TOO_LARGE: spec(
    413,
    'datasets',
    'The version does not fit the engine memory (4 GiB of wasm memory per version).',
  ),
  SCHEMA_INVALID: spec(
    422,
    'datasets',
    'The linkage schema breaks the clkhash v3 rules; the message names the field path.',
  ),
  SCHEMA_UNSUPPORTED: spec(422, 'datasets', 'A valid clkhash schema feature the encoder does not implement (named).'),
  VERSION_NOT_FOUND: spec(404, 'datasets', 'The dataset has no version with this number.'),
  VERSION_ROLLBACK_UNAVAILABLE: spec(
    409,
    'datasets',
    'No previous version is kept to roll back to (none was ever replaced, or it was discarded).',
  ),
  VERSION_STATE_CONFLICT: spec(
    409,
    'datasets',
    'Only a staged version or the previous one can be activated or discarded; the message names the state.',
  ),

  // --- uploads: JSONL and binary dataset versions ------------------------------------------------------
  CLK_BASE64_INVALID: spec(422, 'uploads', 'A CLK is not canonical base64.'),
  CLK_LENGTH_MISMATCH: spec(422, 'uploads', "A CLK's length differs from the dataset's filter length."),
  UPLOAD_BINARY_INVALID: spec(400, 'uploads', 'The binary (PVDS) upload is malformed at the byte offset named.'),
  UPLOAD_CLAIM_TYPE: spec(
    422,
    'uploads',
    "A claim value does not fit the claim's declared type (or a `scalar` claim mixes types); row and claim named.",
  ),
  UPLOAD_CLAIM_UNKNOWN: spec(422, 'uploads', 'A row carries a claim the dataset does not define.'),
  UPLOAD_DUPLICATE_REF: spec(422, 'uploads', 'Two rows of one upload share a record id.'),
  UPLOAD_INTERRUPTED: spec(
    503,
    'uploads',
    'The broker storing the upload stopped (or lost the database) before it ended; the version failed. Upload again.',
  ),
  UPLOAD_LINE_INVALID: spec(400, 'uploads', 'A JSONL line is not a JSON object.'),
  UPLOAD_LINE_TOO_LONG: spec(413, 'uploads', 'A JSONL line is longer than the parser accepts.'),
  UPLOAD_ROW_INVALID: spec(422, 'uploads', 'A row lacks its ref or CLK, or a field has the wrong type.'),
  UPLOAD_TOO_LARGE: spec(
    413,
    'uploads',
    'The upload is larger than `UPLOAD_LIMIT_BYTES` (a pulled object, than `PULL_LIMIT_BYTES`).',
  ),
  UPLOAD_TRUNCATED: spec(400, 'uploads', 'The upload ended inside a record.'),

  // --- pulls: dataset versions read from S3 or a folder ------------------------------------------------
  OBJECT_KEY_INVALID: spec(422, 'pulls', "The object key leaves the dataset's prefix or is not spelt one way."),
  OBJECT_NOT_FOUND: spec(404, 'pulls', 'The object store has no such object.'),
  OBJECT_STORE_ACCESS_DENIED: spec(
    403,
    'pulls',
    "The broker's S3 credentials are valid but the store's policy denies reading this object.",
  ),
  OBJECT_STORE_BUCKET_MISSING: spec(503, 'pulls', 'S3_BUCKET does not exist in the object store.'),
  OBJECT_STORE_CREDENTIALS_INVALID: spec(
    503,
    'pulls',
    "The object store refused the broker's S3 key or secret (unknown key, wrong signature); not retried.",
  ),
  OBJECT_STORE_UNAVAILABLE: spec(503, 'pulls', 'The object store did not answer, or stopped sending, in time.'),
  PULL_FAILED: spec(500, 'pulls', 'A pull failed for an unexpected reason (logged).'),
  PULL_FORMAT_UNKNOWN: spec(422, 'pulls', 'The object name does not say its format and none was given.'),
  PULL_INTERRUPTED: spec(503, 'pulls', 'The broker running the pull stopped; start the pull again.'),
  PULL_NOT_FOUND: spec(404, 'pulls', 'No pull of this dataset has this id.'),

  // --- verification and policy ---------------------------------------------------------------------------
  POLICY_DENIED: spec(403, 'verification', 'The policy does not allow this request; `reasons` says which rule.'),
  POLICY_BUNDLE_INVALID: spec(422, 'verification', 'A policy bundle is malformed; the running policy stays in force.'),
  POLICY_BUNDLE_SIGNATURE_INVALID: spec(
    422,
    'verification',
    'The policy bundle is not signed by POLICY_BUNDLE_KEY; the running policy stays in force.',
  ),
  POLICY_ERROR: spec(500, 'verification', 'The policy returned something other than a decision (logged).'),
  RECORD_FIELDS_UNKNOWN: spec(
    422,
    'verification',
    'A record sent for broker-side encoding has fields the schema lacks.',
  ),
  SECRET_FINGERPRINT_MISMATCH: spec(
    409,
    'verification',
    'Two linkage secrets that must be one differ (their fingerprints): every answer would be no_match.',
  ),

  // --- linkage jobs ----------------------------------------------------------------------------------
  BLOCKING_CONFIG_INVALID: spec(
    422,
    'linkage',
    'A blocking config blocklib would refuse (p-sig or lambda-fold LSH); the message names the field.',
  ),
  BLOCKING_EMPTY: spec(422, 'linkage', "p-sig's filter removed every signature: no blocks, so no comparisons."),
  BLOCKS_INVALID: spec(422, 'linkage', "Blocks that do not match the parties' CLKs (count of parties or records)."),
  CHUNK_INVALID: spec(422, 'linkage', 'A linkage chunk needs an integer count ≥ 1 and an index from 0 to count − 1.'),
  GUIDANCE_INVALID: spec(422, 'linkage', 'Threshold-guidance options out of range (floor, bins or step).'),
  GUIDANCE_TOO_FEW_SCORES: spec(
    422,
    'linkage',
    'Threshold guidance needs at least 20 links and 20 runner-up scores above its floor.',
  ),
  JOB_ENDED: spec(409, 'linkage', 'The job has already ended (done, failed or cancelled): nothing to cancel.'),
  JOB_FAILED: spec(409, 'linkage', 'The job failed; its status names the code it failed with.'),
  JOB_INTERRUPTED: spec(409, 'linkage', 'The broker running the job stopped and it could not be run again.'),
  JOB_NOT_DONE: spec(409, 'linkage', 'The job has not finished; follow its progress or ask again later.'),
  JOB_NOT_FOUND: spec(404, 'linkage', 'No job of yours has this id.'),
  LINK_CANCELLED: spec(409, 'linkage', 'The linkage was cancelled before it finished.'),
  LINK_RESULT_TOO_LARGE: spec(413, 'linkage', 'More pairs than a job may return; raise the threshold or set top_k.'),
  PARTIES_INVALID: spec(422, 'linkage', 'A linkage needs 2 to 255 parties; a pair names a record beyond its party.'),

  // --- engine: the worker pool and its kernels --------------------------------------------------------
  ENGINE_CLOSED: spec(503, 'engine', 'The engine pool is closing.'),
  ENGINE_INTERNAL: spec(500, 'engine', 'A worker failed unexpectedly (logged).'),
  ENGINE_OPTIONS_INVALID: spec(500, 'engine', 'The engine was configured with impossible options.'),
  FILTER_BITS_INVALID: spec(422, 'engine', 'A filter length that is not a positive multiple of 64 bits.'),
  ROWS_INVALID: spec(422, 'engine', 'Rows to encode do not match the schema (count or type).'),
  THRESHOLD_INVALID: spec(422, 'engine', 'A Dice threshold outside [0, 1].'),
  TOPK_INVALID: spec(422, 'engine', 'A top-k that is not a positive integer within the limit.'),
  WASM_NOT_BUILT: spec(500, 'engine', 'The wasm kernels are missing; run `npm run build:wasm`.'),
  WASM_SIMD_UNSUPPORTED: spec(500, 'engine', 'SIMD was forced on a runtime that cannot run the SIMD kernel.'),
  CRYPTO_INPUT_INVALID: spec(500, 'engine', 'The hashing kernel was handed an input it cannot take (a bug, logged).'),
  CRYPTO_SLOTS_EXHAUSTED: spec(500, 'engine', 'The hashing kernel ran out of key slots (a bug, logged).'),

  // --- encoding: records into CLKs --------------------------------------------------------------------
  CSV_HEADER_MISMATCH: spec(
    422,
    'encoding',
    'The CSV header lacks a feature, names an unknown or repeated column, or is not a header (use --no-header).',
  ),
  CSV_INVALID: spec(422, 'encoding', 'The CSV is malformed at the line named (the value is never printed).'),
  DELIMITER_INVALID: spec(422, 'encoding', '`--delimiter` is not one printable ASCII character or tab.'),
  ENCODE_FAILED: spec(422, 'encoding', 'A record could not be encoded; the field is named, never its value.'),
  ENCODE_TIMEOUT: spec(
    422,
    'encoding',
    'Encoding the record ran past `ENCODE_DEADLINE_MS` (a schema pattern backtracking on it?) and was stopped.',
  ),
  ENCODER_DISPOSED: spec(500, 'encoding', 'An encoder was used after it was released (a bug).'),
  RECORD_FIELD_COUNT: spec(422, 'encoding', 'A record has another number of fields than the schema has features.'),
  RECORD_INVALID: spec(422, 'encoding', "A field breaks its feature's format; the field is named, never its value."),
  SECRET_EMPTY: spec(422, 'encoding', 'The linkage secret is empty.'),
  SECRET_INVALID: spec(422, 'encoding', 'The linkage secret is not text the encoder can use.'),

  // --- audit: the Merkle log, checkpoints, receipts, proofs --------------------------------------------
  AUDIT_CLOSED: spec(503, 'audit', 'The audit log is closing; the event was not appended.'),
  AUDIT_OVERLOADED: spec(503, 'audit', 'Too many appends wait for the database; retry shortly.'),
  AUDIT_UNAVAILABLE: spec(503, 'audit', 'An audit log statement failed in the database; nothing was appended.'),
  CHECKPOINT_MALFORMED: spec(422, 'audit', 'A checkpoint is not a C2SP tlog-checkpoint body.'),
  CHECKPOINT_NOT_FOUND: spec(404, 'audit', 'No checkpoint has been signed yet.'),
  CHECKPOINT_ORIGIN: spec(422, 'audit', "A checkpoint's origin is not this log's."),
  ENTRY_NOT_FOUND: spec(404, 'audit', 'The log has no entry at this index.'),
  EVENT_INVALID: spec(422, 'audit', 'An audit event is not a JSON object the log accepts (or is over 65,535 bytes).'),
  HASH_LENGTH: spec(422, 'audit', 'A hash that is not 32 bytes.'),
  INDEX_OUT_OF_RANGE: spec(422, 'audit', 'A leaf index at or beyond the tree size.'),
  KEY_INVALID: spec(500, 'audit', 'A log signing or verifier key is malformed.'),
  LOG_CORRUPT: spec(
    500,
    'audit',
    'The stored tree disagrees with the committed root: the database was altered (logged).',
  ),
  PROOF_INVALID: spec(422, 'audit', 'A Merkle proof does not verify.'),
  PROOF_LENGTH: spec(422, 'audit', 'A Merkle proof has the wrong number of hashes.'),
  PROOF_RANGE_INVALID: spec(422, 'audit', 'Proof sizes out of order or beyond the tree.'),
  RECEIPT_MALFORMED: spec(422, 'audit', 'A receipt is not a C2SP tlog-proof.'),
  RECEIPT_NOT_READY: spec(409, 'audit', 'No signed checkpoint covers this entry yet; ask again in a second.'),
  RECEIPT_SUBJECT_REQUIRED: spec(422, 'audit', 'Verifying a receipt needs the leaf hash or event it is for.'),
  ROOT_MISMATCH: spec(422, 'audit', 'A proof leads to another root than the checkpoint holds.'),
  SIZE_BEYOND_TREE: spec(404, 'audit', 'The log has not reached this tree size yet.'),
  SIZE_INVALID: spec(422, 'audit', 'A tree size that is not a non-negative integer in range.'),
  TILE_NOT_FOUND: spec(404, 'audit', 'No such tlog tile at this tree size.'),
  NOTE_MALFORMED: spec(422, 'audit', 'A signed note is not C2SP signed-note text.'),
  NOTE_UNVERIFIED: spec(422, 'audit', 'No signature on the note verifies with the given keys.'),
  SIGNATURE_INVALID: spec(422, 'audit', 'A note signature is malformed.'),
  WITNESS_FAILED: spec(502, 'audit', 'A witness answered a cosigning request with an error (logged; never sent).'),
  WITNESS_REFUSED: spec(
    409,
    'audit',
    'A witness refused to cosign: the checkpoint is not consistent with what it saw.',
  ),
  WITNESS_STATE_INVALID: spec(500, 'audit', "The witness's state file is corrupt; it refuses to cosign."),
  WITNESS_UNREACHABLE: spec(503, 'audit', 'A witness did not answer a cosigning request (logged; never sent).'),

  // --- anchoring: checkpoints on chain -----------------------------------------------------------------
  ANCHORER_FAILED: spec(503, 'anchoring', 'An anchoring pass failed; the status carries the RPC error (scrubbed).'),
  ANCHOR_BROADCAST_REJECTED: spec(503, 'anchoring', 'The chain refused the anchoring transaction; retried next pass.'),
  ANCHOR_CHAIN_CHANGED: spec(
    500,
    'anchoring',
    'The RPC serves another chain than at start (same chain id, another genesis block: a reset dev chain); ' +
      'restart the broker.',
  ),
  ANCHOR_CONTRACT_COMPILE_FAILED: spec(500, 'anchoring', 'The MerkleAnchor contract did not compile (build step).'),
  ANCHOR_CONTRACT_MISSING: spec(500, 'anchoring', 'No MerkleAnchor contract at `ANCHOR_CONTRACT`.'),
  ANCHOR_CONTRACT_NOT_BUILT: spec(500, 'anchoring', 'The compiled contract is missing; run `npm run build:contracts`.'),
  ANCHOR_FEE_ABOVE_CAP: spec(503, 'anchoring', 'Gas fees are above the configured cap; anchoring waits.'),
  ANCHOR_INSUFFICIENT_FUNDS: spec(
    503,
    'anchoring',
    '`pavilion anchor deploy`: the account of `ANCHOR_PRIVATE_KEY` cannot pay for the deployment; fund it.',
  ),
  ANCHOR_INVALID: spec(422, 'anchoring', "A receipt's anchor reference is malformed."),
  ANCHOR_INVALID_CHAIN: spec(422, 'anchoring', 'A chain id that is not a CAIP-2 `eip155:<n>`.'),
  ANCHOR_INVALID_KEY: spec(500, 'anchoring', 'The anchoring key is not a 32-byte hex private key.'),
  ANCHOR_INVALID_OPTION: spec(500, 'anchoring', 'An anchoring setting is out of range.'),
  ANCHOR_INVALID_ORIGIN: spec(422, 'anchoring', 'A log origin that cannot name a log on chain.'),
  ANCHOR_INVALID_REFERENCE: spec(422, 'anchoring', 'An anchor reference lacks a field or holds a malformed one.'),
  ANCHOR_INVALID_SIZE: spec(422, 'anchoring', 'An anchor size that is not a positive integer.'),
  ANCHOR_LOG_DIVERGED: spec(
    500,
    'anchoring',
    "The contract's latest anchor of the log is not a state of the log (it lost or re-grew anchored entries, or " +
      'someone else anchored with the owner key): the anchorer stops anchoring (logged).',
  ),
  ANCHOR_MISMATCH: spec(422, 'anchoring', 'The anchor on chain differs from the reference (root, size, log or chain).'),
  ANCHOR_NOT_FOUND: spec(422, 'anchoring', 'The chain has no such anchoring transaction or event.'),
  ANCHOR_REJECTED: spec(409, 'anchoring', 'The contract refused the anchor (its size is not above the last).'),
  ANCHOR_REORGED: spec(422, 'anchoring', 'The anchoring block is no longer on the canonical chain.'),
  ANVIL_NOT_INSTALLED: spec(500, 'anchoring', 'ANCHORING=anvil but the anvil binary is not installed.'),
  ANVIL_START_FAILED: spec(500, 'anchoring', 'The local anvil chain did not start.'),
  CHAIN_ID_MISMATCH: spec(500, 'anchoring', 'The RPC endpoint serves another chain than `ANCHOR_CHAIN_ID`.'),
  CHAIN_UNREACHABLE: spec(503, 'anchoring', 'The chain RPC does not answer.'),
  CHECKPOINT_INVALID: spec(500, 'anchoring', 'The log handed the anchorer a checkpoint it cannot parse (a bug).'),
  CHECKPOINT_SOURCE_FAILED: spec(503, 'anchoring', 'The anchorer could not read the latest checkpoint.'),

  // --- auditor tools: pavilion audit verify / monitor -------------------------------------------------
  ANCHOR_AHEAD_OF_LOG: spec(422, 'auditor-tools', "An anchor is for a size beyond the log's latest checkpoint."),
  ANCHOR_SEQUENCE: spec(422, 'auditor-tools', "An anchor's previous size is not the anchor before it on chain."),
  ENTRY_MALFORMED: spec(502, 'auditor-tools', 'The server sent an entry that is not a canonical event.'),
  LEAF_HASH_INVALID: spec(422, 'auditor-tools', '`--leaf-hash` is not a 32-byte base64 hash.'),
  LEAF_MISMATCH: spec(422, 'auditor-tools', 'The receipt is for another leaf than the one given.'),
  LEAF_REQUIRED: spec(422, 'auditor-tools', 'The receipt names no leaf; pass `--leaf-hash`.'),
  LOG_FORKED: spec(422, 'auditor-tools', 'Two checkpoints of one size have different roots: the log forked.'),
  LOG_KEY_REQUIRED: spec(422, 'auditor-tools', 'No pinned log key; pass `--log-key`.'),
  LOG_ROLLED_BACK: spec(422, 'auditor-tools', 'The log is smaller than a size it once committed to.'),
  MONITOR_STATE_INVALID: spec(422, 'auditor-tools', 'The monitor state file is not one the monitor wrote.'),
  PINS_INVALID: spec(
    422,
    'auditor-tools',
    'The pins file or a pin flag (log key, chain, contract, witness, deploy block) is malformed, or the deploy ' +
      "block is beyond the chain's head.",
  ),
  PROOF_MALFORMED: spec(502, 'auditor-tools', 'The server sent a proof that is not well-formed.'),
  SERVER_ERROR: spec(502, 'auditor-tools', 'The broker answered with a server error.'),
  SERVER_REQUIRED: spec(
    422,
    'auditor-tools',
    'The command needs `--server` (`audit monitor`; `publish` unless it writes a file with --out and --schema).',
  ),
  SERVER_UNREACHABLE: spec(503, 'auditor-tools', 'The broker does not answer.'),
  WITNESS_POLICY_INVALID: spec(422, 'auditor-tools', 'A witness policy threshold outside 1..n.'),
  WITNESS_QUORUM_NOT_MET: spec(422, 'auditor-tools', 'Fewer than the policy threshold of trusted witnesses cosigned.'),
  WITNESS_SIGNATURE_INVALID: spec(422, 'auditor-tools', "A trusted witness's cosignature does not verify."),

  // --- command line ---------------------------------------------------------------------------------
  CLAIM_TYPE_MISSING: spec(
    422,
    'command-line',
    '`pavilion publish`: a claim column has no type in the dataset definition; declare it or pass --claim-type.',
  ),
  FILE_NOT_FOUND: spec(422, 'command-line', 'An input file does not exist or cannot be read.'),
  OUTPUT_UNWRITABLE: spec(422, 'command-line', 'The output file cannot be written.'),
  SECRET_FILE_UNREADABLE: spec(422, 'command-line', 'The secret file cannot be read.'),
  VERSION_SHRINKS: spec(
    422,
    'command-line',
    '`pavilion publish --activate`: the new version has under half the rows of the active one (it stays staged); ' +
      'check it, then activate it or pass --allow-shrink.',
  ),

  // --- client: the RP client library (client/) --------------------------------------------------------
  AUTH_FAILED: spec(401, 'client', 'The broker refused the token on the WebSocket, or ended the session.'),
  BROKER_UNREACHABLE: spec(503, 'client', 'The broker did not answer.'),
  CLIENT_CLOSED: spec(409, 'client', 'The client was closed; open a new one.'),
  CLIENT_QUEUE_FULL: spec(429, 'client', 'Too many verifications wait to be sent; slow down.'),
  CONNECTION_LOST: spec(503, 'client', 'The WebSocket could not be reconnected.'),
  RECEIPT_MISMATCH: spec(422, 'client', 'The receipt is for another entry or leaf than the answer it came with.'),
  RECEIPT_UNVERIFIED: spec(422, 'client', 'A receipt could not be checked for a reason without its own code.'),
  WEBSOCKET_UNAVAILABLE: spec(500, 'client', 'No WebSocket implementation: pass one in the options.'),

  // --- development: the demo page and development tokens ------------------------------------------
  DEMO_NOT_BUILT: spec(404, 'development', 'The demo page is not built: run `npm run build`.'),
  DEMO_NOT_LOADED: spec(404, 'development', 'No demo dataset is loaded (DEMO_RECORDS=0).'),
  IDENTITY_KEY_MISMATCH: spec(422, 'development', '`pavilion token --server`: that broker signs with another key.'),
  IDENTITY_KEY_NOT_FOUND: spec(
    422,
    'development',
    '`pavilion token`: no broker key where it looked (listed); pass --state-dir.',
  ),
  IDENTITY_NOT_LOCAL: spec(422, 'development', '`pavilion token --server`: that broker is not its own issuer.'),
  POPULATION_INVALID: spec(422, 'development', 'Synthetic-population options out of range (demo/population).'),

  // --- startup: settings, keys, dependencies ----------------------------------------------------------
  CACHE_CONFIG_INVALID: spec(500, 'startup', 'A cache setting is out of range.'),
  CACHE_SECRET_INVALID: spec(500, 'startup', 'The cache key secret is not 32 bytes.'),
  CONFIG_INVALID: spec(500, 'startup', 'A setting is invalid; the message names it, never its value.'),
  DATABASE_UNAVAILABLE: spec(
    503,
    'startup',
    'Postgres does not answer (at start, or for this request); retry shortly.',
  ),
  DEPENDENCY_UNAVAILABLE: spec(
    503,
    'startup',
    '`/readyz`: a dependency the broker needs is down; `checks` says which.',
  ),
  IDENTITY_CONFIG_INVALID: spec(500, 'startup', 'The identity settings are incomplete or contradictory.'),
  IDENTITY_KEY_INSECURE: spec(500, 'startup', 'The development signing key file is readable by other users.'),
  IDENTITY_KEY_INVALID: spec(500, 'startup', 'The development signing key file is not a private P-256 JWK.'),
  LISTEN_FAILED: spec(500, 'startup', 'The broker cannot listen on HOST:PORT.'),
  METRICS_COLLECTOR_INVALID: spec(500, 'startup', 'A metrics collector returned a value of the wrong shape (a bug).'),
  METRICS_ROUTE_INVALID: spec(500, 'startup', 'A route label is not one the metrics registry knows (a bug).'),
  METRICS_UNKNOWN_COLLECTOR: spec(500, 'startup', 'A metrics collector name is not registered (a bug).'),
  METRICS_UNKNOWN_GAUGE: spec(500, 'startup', 'A gauge name is not registered (a bug).'),
  METRICS_VALUE_INVALID: spec(500, 'startup', 'A metric value is not a finite number (a bug).'),
  POLICY_LOAD_FAILED: spec(500, 'startup', 'The policy wasm cannot be loaded.'),
  SECRET_UNREADABLE: spec(500, 'startup', 'The master key file cannot be read or is not 32 bytes.'),

  // --- internal ---------------------------------------------------------------------------------------
  CACHE_KEY_INVALID: spec(500, 'internal', 'A cache key was built from invalid parts (a bug, logged).'),
  CACHE_TTL_INVALID: spec(500, 'internal', 'A cache entry was given an invalid lifetime (a bug, logged).'),
  CACHE_VALUE_INVALID: spec(500, 'internal', 'A cache value cannot be stored (a bug, logged).'),
  INTERNAL: spec(500, 'internal', 'An unexpected error; it is logged without the request body. Report it.'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The catalogue as a markdown page (docs/errors.md), grouped by area in the order above. */
export function errorCatalogueMarkdown(): string {
  const byArea = new Map<ErrorArea, [string, ErrorSpec][]>();
  for (const [code, s] of Object.entries(ERROR_CODES) as [string, ErrorSpec][]) {
    const list = byArea.get(s.area) ?? [];
    list.push([code, s]);
    byArea.set(s.area, list);
  }
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from common/error-codes.ts by `npm run docs:errors`; test/common/error-codes.test.ts',
    '     fails when the two differ. Edit the catalogue, not this page. -->',
    '',
    'Every 4xx and 5xx answer of the broker is an RFC 9457 problem document',
    '(`application/problem+json`) with a stable `code`; the `type` is `urn:pavilion:problem:<code>` in',
    'lower case with dashes. Clients branch on `code`, never on `detail`. The command line prints',
    '`pavilion: CODE: message` and exits non-zero. No message ever holds a record value or a secret.',
  ];
  for (const [area, entries] of byArea) {
    lines.push('', `## ${area}`, '', '| code | status | meaning |', '|---|---|---|');
    for (const [code, s] of entries.sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`| \`${code}\` | ${s.status} | ${s.meaning.replace(/\|/g, '\\|')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
