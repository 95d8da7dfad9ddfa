/**
 * Which CSV column holds which schema feature. clkhash's
 * `generate_clk_from_csv` (validate_data.validate_header) insists that the
 * header row lists the schema's feature identifiers exactly, in schema
 * order. Here columns are matched by name instead, so a file whose columns
 * come in another order encodes correctly rather than being refused (or, as
 * before, encoded in the wrong order and silently never matching). Every
 * hashed feature must have its column, no column may be unknown or named
 * twice; ignored features may be left out (a provider need not ship a column
 * the encoder never reads, such as a national id).
 */
import { PavilionError } from '../../common/errors.js';
import type { LinkageSchema } from './schema.js';

export interface ColumnMap {
  /** For each feature, in schema order: its column, or -1 for an ignored feature the file lacks. */
  columns: number[];
  /** Columns in every record. */
  width: number;
  /** True when the file's columns are not in schema order. */
  reordered: boolean;
}

/** Columns of a file without a header: the schema's features, in order, ignored ones included. */
export function columnsInSchemaOrder(schema: LinkageSchema): ColumnMap {
  return { columns: schema.features.map((_, i) => i), width: schema.features.length, reordered: false };
}

/** How a caller that reads more than features from a header (pavilion publish: a ref and claims) words refusals. */
export interface HeaderWording {
  /** The row is a header for sure (publish found its ref column in it): never "not a header row … --no-header". */
  known?: boolean;
  /** Says what the columns that are not features (`names`, listed) are not, and what to do about them. */
  unknown?: (names: string) => string;
}

const MAX_NAMES = 6;

/** A name from the header, for a message: JSON-quoted (spaces and control characters show), shortened. */
function shown(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
}

function list(names: readonly string[]): string {
  const head = names.slice(0, MAX_NAMES).join(', ');
  return names.length > MAX_NAMES ? `${head} and ${names.length - MAX_NAMES} more` : head;
}

/**
 * Maps a header row onto the schema, or throws CSV_HEADER_MISMATCH naming the
 * missing, unknown and repeated columns (worded by the caller: `wording`). A row none of whose cells is a
 * feature name is not a header at all (a file without one, or not CSV): the
 * error then names only the expected features, never the row's cells, which
 * would be a record's values.
 */
export function columnsFromHeader(
  schema: LinkageSchema,
  header: readonly string[],
  wording: HeaderWording = {},
): ColumnMap {
  const byName = new Map<string, number>();
  schema.features.forEach((f, i) => {
    byName.set(f.identifier, i);
  });
  const expected = schema.features.map((f) => f.identifier);
  if (!wording.known && !header.some((name) => byName.has(name))) {
    throw new PavilionError(
      'CSV_HEADER_MISMATCH',
      `line 1 is not a header row: none of its ${header.length} column${header.length === 1 ? '' : 's'} is ` +
        `named after a feature of the schema (expected ${list(expected)}); ` +
        'a file without a header row needs --no-header',
    );
  }
  const columns = new Array<number>(schema.features.length).fill(-1);
  const unknown: string[] = [];
  const repeated: string[] = [];
  header.forEach((name, column) => {
    const feature = byName.get(name);
    if (feature === undefined) unknown.push(shown(name));
    else if (columns[feature] !== -1) repeated.push(shown(name));
    else columns[feature] = column;
  });
  const missing = schema.features
    .filter((f) => f.kind === 'hashed' && columns[f.index] === -1)
    .map((f) => f.identifier);
  const problems = [
    missing.length > 0 ? `missing ${list(missing)}` : '',
    unknown.length > 0 ? (wording.unknown?.(list(unknown)) ?? `not in the schema: ${list(unknown)}`) : '',
    repeated.length > 0 ? `named twice: ${list(repeated)}` : '',
  ].filter((p) => p !== '');
  if (problems.length > 0) {
    throw new PavilionError('CSV_HEADER_MISMATCH', `the header does not match the schema: ${problems.join('; ')}`);
  }
  const present = columns.filter((c) => c !== -1);
  return { columns, width: header.length, reordered: present.some((c, i) => i > 0 && c < present[i - 1]!) };
}
