/**
 * `pavilion publish` and `pavilion dataset …`: a data provider's side of the version lifecycle
 * (docs/data-providers.md).
 *
 *   publish   CSV in (a ref column, the schema's features matched by name, claim columns named after
 *             the dataset's claims) → each row encoded here with the linkage secret → claims parsed as
 *             their declared types → JSONL → uploaded as a *staged* version (or with --dry-run only
 *             checked, with --activate activated once staged, with --out written to a file for the
 *             pull route). The upload declares the secret's fingerprint (common/secret-fingerprint.ts),
 *             so relying parties can check theirs.
 *   dataset versions | activate | rollback | discard | pull
 *
 * What the broker answered is printed as JSON on stdout; notes and warnings go to stderr. Values of
 * records never appear in either, nor in errors (lines and column names do).
 */

import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PavilionClientError } from '../client/errors.js';
import type { ErrorCode } from '../common/error-codes.js';
import { PavilionError } from '../common/errors.js';
import { secretFingerprint } from '../common/secret-fingerprint.js';
import {
  CsvLineError,
  CsvRecords,
  csvPieces,
  decodeCsvPiece,
  delimiterCode,
  recordTooLong,
  scansUnquoted,
  scanUnquoted,
} from '../engine/clk/csv.js';
import { columnsFromHeader } from '../engine/clk/csv-header.js';
import type { RecordFields } from '../engine/clk/encoder.js';
import { ClkEncoder, clkToBase64, parseSchema } from '../engine/clk/index.js';
import { type ClaimType, parseClaimCell } from '../server/datasets/claim-types.js';
import { MAX_REF_BYTES } from '../server/datasets/upload.js';
import { CLAIM_TYPES } from '../server/http/schemas.js';
import { openOutput } from './output.js';
import { readSecretFile } from './secret.js';

export interface BrokerOptions {
  server: string;
  token?: string;
  /** Where notes go (tests); default stderr. */
  note?: (line: string) => void;
}

export interface PublishOptions extends Partial<BrokerOptions> {
  dataset: string;
  secretFile: string;
  in: string;
  /** Column holding each record's id (default `ref`). */
  refColumn?: string;
  /** `name:type` for claims the dataset declares by name only (`scalar`). */
  claimTypes?: string[];
  delimiter?: string;
  /** Offline (with `out`): the linkage schema file, instead of the broker's dataset. */
  schema?: string;
  /** Write the JSONL upload here (for the pull route) instead of sending it. */
  out?: string;
  dryRun?: boolean;
  activate?: boolean;
  /** With `activate`: activate even when the version has under half the rows of the active one. */
  allowShrink?: boolean;
}

interface DatasetView {
  id: string;
  schema: unknown;
  claims: string[];
  claim_types?: Record<string, ClaimType>;
  active_version: number | null;
  rows: number;
  secret_fingerprint?: string | null;
  broker_secret_fingerprint?: string | null;
}

/** What the broker answers an upload (server/http/schemas.ts VersionCreated). */
interface Uploaded {
  version: number | null;
  rows: number;
  active_version: number | null;
  active_rows: number;
  summary: { duplicate_clks: number; empty_clks: number };
  [field: string]: unknown;
}

interface Activation {
  version: number;
  previous_version: number | null;
  [field: string]: unknown;
}

interface PullView {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  version: number | null;
  error: { code: string; detail: string | null } | null;
  [field: string]: unknown;
}

/** One broker request; problems become coded errors (`pavilion: CODE: detail`). */
async function call<T = Record<string, unknown>>(
  o: BrokerOptions,
  method: string,
  path: string,
  body?: { json: unknown } | { file: string; contentType: string },
): Promise<T> {
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: BodyInit | undefined;
  let duplex: 'half' | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = body.contentType;
    headers['content-length'] = String(statSync(body.file).size);
    payload = Readable.toWeb(createReadStream(body.file)) as unknown as BodyInit;
    duplex = 'half';
  }
  let res: Response;
  try {
    res = await fetch(new URL(path, o.server), {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      ...(duplex ? { duplex } : {}),
    } as RequestInit);
  } catch (err) {
    throw new PavilionClientError('BROKER_UNREACHABLE', `${method} ${path}: the broker did not answer`, 503, {
      cause: err,
    });
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const problem = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; detail?: unknown };
    const code = typeof problem.code === 'string' ? problem.code : `HTTP_${res.status}`;
    const detail = typeof problem.detail === 'string' ? problem.detail : `${method} ${path} answered ${res.status}`;
    throw new PavilionClientError(code, detail, res.status);
  }
  return json as T;
}

const datasetPath = (id: string) => `/v1/datasets/${encodeURIComponent(id)}`;

function claimTypeOverrides(pairs: readonly string[] = []): Map<string, Exclude<ClaimType, 'scalar'>> {
  const out = new Map<string, Exclude<ClaimType, 'scalar'>>();
  for (const pair of pairs) {
    const [name, type] = pair.split(':');
    if (!name || !type || !(CLAIM_TYPES as readonly string[]).includes(type))
      throw new PavilionError(
        'CLAIM_TYPE_MISSING',
        `--claim-type wants name:type with a type of ${CLAIM_TYPES.join(', ')}`,
      );
    out.set(name, type as Exclude<ClaimType, 'scalar'>);
  }
  return out;
}

/** Where each column goes: the ref, a claim (with its type), or a schema feature. */
interface Layout {
  ref: number;
  claims: { column: number; name: string; type: Exclude<ClaimType, 'scalar'> }[];
  /** For each schema feature: its column, or -1 (an ignored feature the file lacks). */
  features: number[];
  width: number;
}

function layoutOf(
  header: readonly string[],
  schema: ReturnType<typeof parseSchema>,
  refColumn: string,
  declared: Record<string, ClaimType>,
  overrides: Map<string, Exclude<ClaimType, 'scalar'>>,
  unknownColumns: (names: string) => string,
): Layout {
  const ref = header.indexOf(refColumn);
  if (ref === -1)
    throw new PavilionError(
      'CSV_HEADER_MISMATCH',
      `the header has no ${JSON.stringify(refColumn)} column for the record ids (--ref-column names it)`,
    );
  const featureNames = new Set(schema.features.map((f) => f.identifier));
  const claims: Layout['claims'] = [];
  const rest: number[] = [];
  header.forEach((name, column) => {
    if (column === ref) return;
    const type = declared[name];
    if (type === undefined || featureNames.has(name)) {
      rest.push(column);
      return;
    }
    const override = overrides.get(name);
    if (type === 'scalar' && !override)
      throw new PavilionError(
        'CLAIM_TYPE_MISSING',
        `claim ${name} has no type in the dataset definition: declare it there (claims as {name: type}) or pass ` +
          `--claim-type ${name}:<${CLAIM_TYPES.join('|')}>`,
      );
    if (type !== 'scalar' && override && override !== type)
      throw new PavilionError(
        'UPLOAD_CLAIM_TYPE',
        `claim ${name} is declared ${type} by the dataset; --claim-type says ${override}`,
      );
    claims.push({ column, name, type: type === 'scalar' ? override! : type });
  });
  // The remaining columns must be the schema's features, matched by name (engine/clk/csv-header.ts). The row has
  // the ref column, so it is a header: a file without one is not what to suggest (publish has no --no-header).
  const map = columnsFromHeader(
    schema,
    rest.map((c) => header[c]!),
    { known: true, unknown: unknownColumns },
  );
  return { ref, claims, features: map.columns.map((c) => (c === -1 ? -1 : rest[c]!)), width: header.length };
}

/**
 * How columns that are neither the ref, a feature nor a claim are refused (CSV_HEADER_MISMATCH, as
 * docs/data-providers.md says), pointing at the fix. With --server the claims are the dataset's; offline they are
 * the columns given --claim-type, so a claim column without one was called "not in the schema" (an outside probe).
 */
function unknownColumnsWording(opts: PublishOptions, declared: Record<string, ClaimType>): (names: string) => string {
  const claims = Object.keys(declared);
  if (opts.server)
    return (names) =>
      `neither a feature of the schema nor a claim of dataset ${opts.dataset}: ${names} ` +
      `(its claims: ${claims.length > 0 ? claims.join(', ') : 'none'})`;
  return (names) =>
    `neither a feature of the schema nor a claim given --claim-type: ${names} (declare a claim column with ` +
    `--claim-type NAME:TYPE, TYPE one of ${CLAIM_TYPES.join(', ')})`;
}

/** Bytes of CSV read, decoded, checked and encoded at a time (about 3,000 FEBRL records). */
const PIECE_BYTES = 256 * 1024;

/**
 * Encodes the CSV into a JSONL upload file; returns the rows written. The file is read in pieces of
 * whole records (csvPieces), so its size is not bounded by what one string holds; each piece's
 * records are checked (columns, ref, claims) and then encoded feature by feature
 * (ClkEncoder.encodeColumns). The first bad record in file order is the one reported. The file is
 * opened before any record is read (a folder, a missing folder or the input itself is OUTPUT_UNWRITABLE
 * at once) and written beside `file`, renamed over it only when the whole upload is written
 * (cli/output.ts): a partial upload must not be left to be pulled, nor replace an earlier one.
 */
async function writeUpload(
  opts: PublishOptions,
  schemaJson: unknown,
  declared: Record<string, ClaimType>,
  secret: string,
  file: string,
): Promise<number> {
  const schema = parseSchema(schemaJson);
  const delimiter = delimiterCode(opts.delimiter ?? ',');
  const inputFile = await openInput(opts.in);
  const out = await openOutput(file, {
    '--in': opts.in,
    '--schema': opts.schema,
    '--secret-file': opts.secretFile,
  }).catch(async (err: unknown) => {
    await inputFile.close();
    throw err;
  });
  const input = createReadStream(opts.in, { fd: inputFile, highWaterMark: PIECE_BYTES });
  let encoder: ClkEncoder | undefined;
  const seen = new Set<string>();
  let layout: Layout | undefined;
  let line = 1;
  let rows = 0;
  let complete = false;
  try {
    encoder = ClkEncoder.create(schema, secret);
    const pieces = csvPieces(input, delimiter, PIECE_BYTES, () => recordTooLong(line));
    for await (const piece of readable(pieces, opts.in)) {
      let batch: Batch | undefined;
      if (layout && scansUnquoted(piece)) {
        // Without quotes (FEBRL-like files have none) the values are read from the bytes where they are.
        batch = readUnquotedBatch(piece, line, delimiter, layout, seen);
      } else {
        const records = new CsvRecords(decodeCsvPiece(piece, line), delimiter, line);
        layout ??= records.next()
          ? layoutOf(
              [...records.fields],
              schema,
              opts.refColumn ?? 'ref',
              declared,
              claimTypeOverrides(opts.claimTypes),
              unknownColumnsWording(opts, declared),
            )
          : undefined; // blank lines before the header
        if (layout) batch = readBatch(records, layout, seen);
        else line += records.linesRead;
      }
      if (layout && batch) {
        const clks = new Uint8Array(batch.lines.length * encoder.filterBytes);
        const { encoded, error } = batch.fields
          ? encoder.encodeFields(batch.fields, layout.features, batch.lines.length, clks, 0)
          : encoder.encodeColumns(batch.features, batch.lines.length, clks, 0);
        let json = '';
        for (let i = 0; i < encoded; i++) {
          const clk = clkToBase64(clks.subarray(i * encoder.filterBytes, (i + 1) * encoder.filterBytes));
          const claims = batch.claims[i] ? `,"claims":${JSON.stringify(batch.claims[i])}` : '';
          // What JSON.stringify({ ref, clk, claims }) gives (base64 needs no escaping), without the object.
          json += `{"ref":${batch.refs[i]},"clk":"${clk}"${claims}}\n`;
        }
        await out.write(json);
        rows += encoded;
        if (error !== undefined) {
          // Encoder messages name the feature and its rule, never the value (engine/clk/prepare.ts).
          if (error instanceof PavilionError)
            throw new PavilionError(error.code, `line ${batch.lines[encoded]}: ${error.message}`);
          throw error;
        }
        if (batch.failure) throw batch.failure;
        line += batch.linesRead;
      }
    }
    if (!layout) throw new PavilionError('DATASET_EMPTY', `${opts.in}: no header row`);
    if (rows === 0) throw new PavilionError('DATASET_EMPTY', `${opts.in}: no records after the header`);
    complete = true;
  } catch (err) {
    throw out.failure ?? err;
  } finally {
    input.destroy();
    encoder?.dispose();
    await out.close(complete);
  }
  if (out.failure) throw out.failure;
  return rows;
}

async function openInput(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch {
    throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read`);
  }
}

/** The pieces, with a read error (a folder, a failing disk) reported as FILE_NOT_FOUND. */
async function* readable(pieces: AsyncGenerator<Uint8Array>, path: string): AsyncGenerator<Uint8Array> {
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await pieces.next();
    } catch (err) {
      if (err instanceof PavilionError) throw err;
      throw new PavilionError('FILE_NOT_FOUND', `${path}: cannot read`);
    }
    if (next.done) return;
    yield next.value;
  }
}

/** A piece's records, checked, up to the first that fails a check (`failure`, naming its line). */
interface Batch {
  /** Each record's ref as JSON text. */
  refs: string[];
  claims: (Record<string, unknown> | undefined)[];
  /** features[i][r]: record r's value of schema feature i ('' for an ignored feature the file lacks). */
  features: string[][];
  /** Or the records' fields as bytes (readUnquotedBatch), for ClkEncoder.encodeFields. */
  fields?: RecordFields;
  lines: number[];
  /** Line breaks read (the next piece starts this many lines later). */
  linesRead: number;
  failure?: PavilionError;
}

function readBatch(records: CsvRecords, layout: Layout, seen: Set<string>): Batch {
  const batch: Batch = { refs: [], claims: [], features: layout.features.map(() => []), lines: [], linesRead: 0 };
  const fields = records.fields;
  const field = (column: number) => fields[column]!;
  // CSV errors name the line, never a field (engine/clk/csv.ts).
  for (;;) {
    try {
      if (!records.next()) break;
    } catch (err) {
      if (!(err instanceof CsvLineError)) throw err;
      batch.failure = err;
      break;
    }
    const line = records.line;
    if (fields.length !== layout.width) {
      batch.failure = fieldCountError(fields.length, layout, line);
      break;
    }
    const r = batch.lines.length;
    batch.failure = addRecord(batch, field, layout, seen, line);
    if (batch.failure) break;
    for (let f = 0; f < layout.features.length; f++) {
      const col = layout.features[f]!;
      batch.features[f]![r] = col === -1 ? '' : fields[col]!;
    }
  }
  batch.linesRead = records.linesRead;
  return batch;
}

/**
 * readBatch for a valid UTF-8 piece without quotes starting on `firstLine`: only the ref and the claims
 * become strings; the features stay bytes (engine/clk/csv.ts scanUnquoted, ClkEncoder.encodeFields).
 */
function readUnquotedBatch(
  piece: Uint8Array,
  firstLine: number,
  delimiter: number,
  layout: Layout,
  seen: Set<string>,
): Batch {
  const scan = scanUnquoted(piece, delimiter, layout.width);
  const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  const { bounds } = scan;
  const stride = layout.width + 1;
  const batch: Batch = {
    refs: [],
    claims: [],
    features: [],
    fields: { bytes, bounds, stride },
    lines: [],
    linesRead: scan.linesRead,
  };
  let b = 0;
  const field = (column: number) => bytes.toString('utf8', bounds[b + column], bounds[b + column + 1]! - 1);
  for (let r = 0; r < scan.records; r++, b += stride) {
    batch.failure = addRecord(batch, field, layout, seen, firstLine - 1 + scan.lines[r]!);
    if (batch.failure) return batch;
  }
  if (scan.error) batch.failure = new CsvLineError(firstLine - 1 + scan.error.line, scan.error.detail);
  else if (scan.fieldCount)
    batch.failure = fieldCountError(scan.fieldCount.fields, layout, firstLine - 1 + scan.fieldCount.line);
  return batch;
}

function fieldCountError(fields: number, layout: Layout, line: number): PavilionError {
  return new PavilionError('RECORD_FIELD_COUNT', `line ${line}: ${fields} columns, the header has ${layout.width}`);
}

/** Checks a record's ref and claims (`field(c)`: its column c) and adds them to the batch; else the failure. */
function addRecord(
  batch: Batch,
  field: (column: number) => string,
  layout: Layout,
  seen: Set<string>,
  line: number,
): PavilionError | undefined {
  const fail = (code: ErrorCode, detail: string) => new PavilionError(code, `line ${line}: ${detail}`);
  const ref = field(layout.ref);
  if (ref === '' || Buffer.byteLength(ref) > MAX_REF_BYTES)
    return fail('UPLOAD_ROW_INVALID', `the ref must be 1 to ${MAX_REF_BYTES} bytes`);
  // Refs are kept (in `seen`) and written as their JSON text, a string of its own: the ref itself, 13
  // characters or more, is a slice of the piece's text (V8's sliced strings) and would keep the
  // whole piece alive, the file's size in memory (7.2M FEBRL rows: 1.14 GB peak RSS, 0.75 GB so).
  const refJson = JSON.stringify(ref);
  if (seen.has(refJson)) return fail('UPLOAD_DUPLICATE_REF', 'the ref repeats an earlier row');
  seen.add(refJson);
  let claims: Record<string, unknown> | undefined;
  for (const c of layout.claims) {
    const parsed = parseClaimCell(c.type, field(c.column));
    if ('problem' in parsed) return fail('UPLOAD_CLAIM_TYPE', `claim ${c.name} ${parsed.problem}`);
    claims ??= {};
    claims[c.name] = parsed.value;
  }
  batch.refs.push(refJson);
  batch.claims.push(claims);
  batch.lines.push(line);
  return undefined;
}

function noteTo(o: { note?: (line: string) => void }): (line: string) => void {
  return o.note ?? ((line) => process.stderr.write(`${line}\n`));
}

/** What the command prints: the broker's answer (plus the activation with --activate), or the file written. */
export async function publishCommand(opts: PublishOptions): Promise<Record<string, unknown>> {
  const note = noteTo(opts);
  const secret = await readSecretFile(opts.secretFile);
  const fingerprint = secretFingerprint(secret);
  note(`linkage secret fingerprint ${fingerprint}`);
  const broker: BrokerOptions | undefined = opts.server
    ? { server: opts.server, ...(opts.token ? { token: opts.token } : {}) }
    : undefined;

  let dataset: DatasetView | undefined;
  let schemaJson: unknown;
  if (broker) {
    dataset = await call<DatasetView>(broker, 'GET', datasetPath(opts.dataset));
    schemaJson = dataset.schema;
  } else if (opts.schema && opts.out) {
    try {
      schemaJson = JSON.parse(readFileSync(opts.schema, 'utf8'));
    } catch {
      throw new PavilionError('FILE_NOT_FOUND', `${opts.schema}: cannot read a JSON linkage schema`);
    }
  } else {
    throw new PavilionError('SERVER_REQUIRED', 'give --server (or --schema with --out, to write the file offline)');
  }
  const declared: Record<string, ClaimType> = dataset
    ? (dataset.claim_types ?? Object.fromEntries(dataset.claims.map((c) => [c, 'scalar' as ClaimType])))
    : Object.fromEntries([...claimTypeOverrides(opts.claimTypes)].map(([n]) => [n, 'scalar' as ClaimType]));

  if (dataset) {
    if (dataset.secret_fingerprint && dataset.secret_fingerprint !== fingerprint)
      note(
        `note: the active version ${dataset.active_version} was encoded with another secret ` +
          `(${dataset.secret_fingerprint}); relying parties must switch secrets when this version is activated`,
      );
    if (dataset.broker_secret_fingerprint && dataset.broker_secret_fingerprint !== fingerprint)
      note(
        `note: the secret registered for broker-side encoding is another (${dataset.broker_secret_fingerprint}); ` +
          'register this one (PUT /v1/datasets/{id}/secret) or broker-side encoding answers ' +
          'SECRET_FINGERPRINT_MISMATCH',
      );
  }

  if (opts.out) {
    const rows = await writeUpload(opts, schemaJson, declared, secret, opts.out);
    note(
      `wrote ${rows} records to ${opts.out}; put it below datasets/${opts.dataset}/ in the object store, then: ` +
        `pavilion dataset pull --server <broker URL> --dataset ${opts.dataset} --object <key> ` +
        `--secret-file ${opts.secretFile}`,
    );
    return { dataset: opts.dataset, file: opts.out, rows, secret_fingerprint: fingerprint };
  }

  const dir = mkdtempSync(join(tmpdir(), 'pavilion-publish-'));
  try {
    const file = join(dir, 'upload.jsonl');
    await writeUpload(opts, schemaJson, declared, secret, file);
    const query = new URLSearchParams({ secret_fingerprint: fingerprint });
    if (opts.dryRun) query.set('dry_run', 'true');
    else query.set('activate', 'false');
    const uploaded = await call<Uploaded>(broker!, 'POST', `${datasetPath(opts.dataset)}/versions?${query}`, {
      file,
      contentType: 'application/x-ndjson',
    });
    const { summary } = uploaded;
    const against =
      uploaded.active_version === null
        ? 'no version is active yet'
        : `active version ${uploaded.active_version} has ${uploaded.active_rows}`;
    const checks = `${summary.duplicate_clks} duplicate CLKs, ${summary.empty_clks} empty`;
    if (opts.dryRun) {
      note(`dry run: ${uploaded.rows} records checked (${against}); ${checks}; nothing stored`);
      return uploaded;
    }
    note(`staged version ${uploaded.version}: ${uploaded.rows} records (${against}); ${checks}`);
    if (!opts.activate) {
      note(
        `activate it: pavilion dataset activate --server ${opts.server} --dataset ${opts.dataset} ` +
          `--version ${uploaded.version}`,
      );
      return uploaded;
    }
    if (uploaded.active_rows > 0 && uploaded.rows * 2 < uploaded.active_rows && !opts.allowShrink)
      throw new PavilionError(
        'VERSION_SHRINKS',
        `version ${uploaded.version} has ${uploaded.rows} records, the active one ${uploaded.active_rows}: it stays ` +
          'staged; activate it with pavilion dataset activate, or publish with --allow-shrink',
      );
    const activation = await call<Activation>(
      broker!,
      'POST',
      `${datasetPath(opts.dataset)}/versions/${uploaded.version}/activate`,
    );
    note(
      `version ${activation.version} is active` +
        (activation.previous_version === null
          ? ''
          : ` (version ${activation.previous_version} is kept: pavilion dataset rollback serves it again)`),
    );
    return { ...uploaded, status: 'active', activation };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function versionsCommand(o: BrokerOptions & { dataset: string }): Promise<unknown> {
  return call(o, 'GET', `${datasetPath(o.dataset)}/versions`);
}

export async function activateCommand(o: BrokerOptions & { dataset: string; version: number }): Promise<unknown> {
  return call(o, 'POST', `${datasetPath(o.dataset)}/versions/${o.version}/activate`);
}

export async function rollbackCommand(o: BrokerOptions & { dataset: string }): Promise<unknown> {
  return call(o, 'POST', `${datasetPath(o.dataset)}/rollback`);
}

export async function discardCommand(o: BrokerOptions & { dataset: string; version: number }): Promise<unknown> {
  return call(o, 'DELETE', `${datasetPath(o.dataset)}/versions/${o.version}`);
}

/** Asks the broker to publish an object from the store and waits for the pull to end; failed pulls throw. */
export async function pullCommand(
  o: BrokerOptions & {
    dataset: string;
    object: string;
    /** Default: the broker takes it from the object's name (.jsonl/.ndjson, .pvds). */
    format?: 'jsonl' | 'binary';
    secretFile?: string;
    activate?: boolean;
    pollMs?: number;
  },
): Promise<unknown> {
  const note = noteTo(o);
  const fingerprint = o.secretFile ? secretFingerprint(await readSecretFile(o.secretFile)) : undefined;
  if (fingerprint) note(`linkage secret fingerprint ${fingerprint}`);
  let pull = await call<PullView>(o, 'POST', `${datasetPath(o.dataset)}/pulls`, {
    json: {
      object: o.object,
      ...(o.format ? { format: o.format } : {}),
      activate: o.activate === true,
      ...(fingerprint ? { secret_fingerprint: fingerprint } : {}),
    },
  });
  while (pull.status === 'running') {
    await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    pull = await call<PullView>(o, 'GET', `${datasetPath(o.dataset)}/pulls/${pull.id}`);
  }
  if (pull.status === 'failed')
    throw new PavilionClientError(pull.error?.code ?? 'PULL_FAILED', pull.error?.detail ?? 'the pull failed');
  note(
    o.activate
      ? `version ${pull.version} is active`
      : `staged version ${pull.version}: pavilion dataset activate --server ${o.server} --dataset ${o.dataset} ` +
          `--version ${pull.version}`,
  );
  return pull;
}
