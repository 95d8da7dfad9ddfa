/**
 * `pavilion verify`: a relying party's verification from the command line,
 * through the client library (client/): the dataset's schema is fetched from
 * the broker, each CSV row (read as `pavilion encode` reads it, through its code: Python's csv semantics,
 * header columns matched to the schema's features by name, or --no-header and --delimiter) is encoded here,
 * only its CLK is sent (over one WebSocket), and with --check-receipts each answer's receipt is verified
 * offline. One JSON line per row on stdout:
 *
 *   {"row":1,"decision":"match","score":0.93,"claims":{…},"receipt":{…},"receipt_verified":true}
 *   {"row":2,"error":{"code":"POLICY_DENIED","detail":"…"}}
 *
 * Exit code 1 when any row failed. Row values never appear in the output
 * or in errors.
 */
import { Pavilion } from '../client/index.js';
import { isCodedError, PavilionError } from '../common/errors.js';
import { secretFingerprint } from '../common/secret-fingerprint.js';
import { CsvRecords, delimiterCode, readCsvFile } from '../engine/clk/csv.js';
import type { ColumnMap } from '../engine/clk/csv-header.js';
import { type LinkageSchema, parseSchema } from '../engine/clk/schema.js';
import { inputColumns, readFirstRecord } from './encode.js';
import { readSecretFile } from './secret.js';

export interface VerifyOptions {
  server: string;
  token?: string;
  dataset: string;
  secretFile: string;
  purpose: string;
  claims: string[];
  consent?: boolean;
  in: string;
  /** false: the file has no header row; columns are in the schema's order (as `pavilion encode --no-header`). */
  header?: boolean;
  /** One ASCII character or a tab; default a comma. */
  delimiter?: string;
  checkReceipts?: boolean;
  /** Where lines go (tests); default stdout. */
  write?: (line: string) => void;
  /** Where notes go (the secret's fingerprint); default stderr. */
  note?: (line: string) => void;
}

/**
 * The file's columns (its header row matched by name, or the schema's order without one) and its records after
 * the header, each with its line number: as `pavilion encode` reads a file (cli/encode.ts inputColumns).
 */
function readRecords(
  path: string,
  schema: LinkageSchema,
  header: boolean,
  delimiterOption: string,
): { columns: ColumnMap; rows: { line: number; fields: string[] }[] } {
  const delimiter = delimiterCode(delimiterOption);
  const text = readCsvFile(path);
  const columns = inputColumns(schema, readFirstRecord(text, delimiter, header), header);
  const records = new CsvRecords(text, delimiter);
  if (header) records.next();
  const rows: { line: number; fields: string[] }[] = [];
  while (records.next()) rows.push({ line: records.line, fields: [...records.fields] });
  return { columns, rows };
}

/** A record's values in the schema's feature order (ignored features the file lacks are empty). */
function inSchemaOrder(map: ColumnMap, fields: readonly string[], header: boolean): string[] {
  if (fields.length !== map.width)
    throw new PavilionError(
      'RECORD_FIELD_COUNT',
      `${fields.length} columns, ${header ? 'the header has' : 'the schema has'} ${map.width}`,
    );
  return map.columns.map((c) => (c === -1 ? '' : fields[c]!));
}

/** Rows encoded and waiting for their answer at once. */
const ROW_WINDOW = 256;

/** Returns the number of rows that failed. */
export async function verifyCommand(opts: VerifyOptions): Promise<number> {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const secret = await readSecretFile(opts.secretFile);
  const pv = new Pavilion({ url: opts.server, ...(opts.token ? { token: opts.token } : {}) });
  try {
    const dataset = await pv.dataset(opts.dataset);
    // A secret other than the data provider's makes every answer no_match: compare before sending anything.
    const fingerprint = secretFingerprint(secret);
    (opts.note ?? ((line: string) => process.stderr.write(`${line}\n`)))(
      `linkage secret fingerprint ${fingerprint}` +
        (dataset.secret_fingerprint ? ` (dataset ${opts.dataset}: ${dataset.secret_fingerprint})` : ''),
    );
    if (dataset.secret_fingerprint && dataset.secret_fingerprint !== fingerprint)
      throw new PavilionError(
        'SECRET_FINGERPRINT_MISMATCH',
        `the secret in ${opts.secretFile} has fingerprint ${fingerprint}; version ${dataset.active_version} of ` +
          `${opts.dataset} was encoded with ${dataset.secret_fingerprint}: every answer would be no_match (ask the ` +
          'data provider for its current secret)',
      );
    const header = opts.header ?? true;
    const { columns, rows } = readRecords(opts.in, parseSchema(dataset.schema), header, opts.delimiter ?? ',');
    const encoder = pv.encoder(dataset.schema, secret);
    const socket = pv.socket();
    let failed = 0;
    const one = async (row: string[], line: number): Promise<Record<string, unknown>> => {
      try {
        const clk = encoder.encode(inSchemaOrder(columns, row, header));
        const answer = await socket.verify({
          dataset: opts.dataset,
          clk,
          claims: opts.claims,
          purpose: opts.purpose,
          ...(opts.consent ? { consent: true } : {}),
        });
        const out: Record<string, unknown> = {
          row: line,
          decision: answer.decision,
          score: answer.score,
          claims: answer.claims,
          receipt: answer.receipt,
        };
        if (opts.checkReceipts) {
          try {
            await pv.checkReceipt(answer);
            out.receipt_verified = true;
          } catch (err) {
            failed++;
            out.receipt_verified = false;
            out.error = { code: isCodedError(err) ? err.code : 'RECEIPT_UNVERIFIED' };
          }
        }
        return out;
      } catch (err) {
        failed++;
        // PavilionError messages name fields and rules, never values (common/errors.ts); anything else is not shown.
        return {
          row: line,
          error: isCodedError(err) ? { code: err.code, detail: err.message } : { code: 'INTERNAL' },
        };
      }
    };
    // A window of rows in flight (the socket bounds what is on the wire); lines come out in row order.
    const window: Promise<Record<string, unknown>>[] = [];
    for (const [i, row] of rows.entries()) {
      window.push(one(row.fields, i + 1));
      if (window.length >= ROW_WINDOW) write(JSON.stringify(await window.shift()));
    }
    for (const r of window) write(JSON.stringify(await r));
    encoder.dispose();
    return failed;
  } finally {
    pv.close();
  }
}
