/**
 * `pavilion block`: p-sig blocks of a CSV of records (header row), computed
 * where the records are, written in anonlink-client's form
 * (`{"blocks": {"<record index>": [keys…]}, "meta": {…}}`) for `pavilion link
 * --dataset-blocks/--queries-blocks` or a broker job. The config is
 * blocklib's p-sig JSON (engine/blocking/config.ts).
 */
import { PavilionError } from '../common/errors.js';
import { CsvRecords, readCsvFile } from '../engine/clk/csv.js';
import { parsePSig, psigCandidateBlocks, recordsToBlocks } from '../engine/index.js';
import { readJson } from './encode.js';
import { writeOutputFile } from './output.js';

export interface BlockOptions {
  config: string;
  in: string;
  out?: string;
}

export async function blockCommand(opts: BlockOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const config = parsePSig(readJson(opts.config, 'BLOCKING_CONFIG_INVALID'));
  // read as clkhash's users read CSV (engine/clk/csv.ts), so blocks and CLKs see the same values
  const reader = new CsvRecords(readCsvFile(opts.in), 0x2c);
  if (!reader.next()) throw new PavilionError('DATASET_EMPTY', `${opts.in}: no records`);
  const header = [...reader.fields];
  const records: string[][] = [];
  while (reader.next()) {
    // Refused as pavilion encode refuses it, named by its line in the file: a record of another width
    // than the header would otherwise block on shifted columns, or be counted as a record index.
    if (reader.fields.length !== header.length)
      throw new PavilionError(
        'RECORD_FIELD_COUNT',
        `line ${reader.line}: ${reader.fields.length} columns, the header has ${header.length}`,
      );
    records.push([...reader.fields]);
  }
  if (records.length === 0) throw new PavilionError('DATASET_EMPTY', `${opts.in}: no records`);
  // record ids are row numbers: the broker pairs blocks with CLKs by position
  const blocks = psigCandidateBlocks(
    records,
    { ...config, config: { ...config.config, 'record-id-col': null } },
    { header },
  );
  const json = JSON.stringify({
    ...recordsToBlocks(blocks),
    meta: { config: config, source: { clk_count: [records.length] }, blocks: blocks.size },
  });
  if (opts.out) await writeOutputFile(opts.out, json, { '--in': opts.in, '--config': opts.config });
  else out.write(`${json}\n`);
  return blocks.size;
}
