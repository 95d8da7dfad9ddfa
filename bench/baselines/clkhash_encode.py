"""clkhash 0.18.3 encoding a CSV file, as a data provider runs it: read the CSV
(header row checked against the schema, as clkhash does), generate_clks, write
one base64 CLK per line. Run as a whole process by bench/encoding.ts, which
times it from the outside beside `pavilion encode` on the same file.

usage: python3 clkhash_encode.py SCHEMA SECRET_FILE CSV OUT [MAX_WORKERS]
  MAX_WORKERS: clkhash's max_workers (default: None = one process per core;
  clkhash itself uses 1 below 10,000 records).
Prints one JSON line: clkhash version, records, and the seconds generate_clks took.
"""
import base64
import csv
import json
import sys
import time

try:
    import clkhash
    from clkhash import clk, schema as clk_schema
except Exception as e:  # noqa: BLE001 - reported to the bench, which prints a skipped row
    print(json.dumps({"error": "cannot import clkhash: " + type(e).__name__}))
    sys.exit(0)


def main():
    schema_path, secret_path, csv_path, out_path = sys.argv[1:5]
    max_workers = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "default" else None
    with open(schema_path) as f:
        schema = clk_schema.from_json_dict(json.load(f))
    with open(secret_path) as f:
        secret = f.read()
    if secret.endswith("\n"):
        secret = secret[:-1]
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        clk.validate_header(schema.fields, header)
        records = list(reader)
    t0 = time.perf_counter()
    clks = clk.generate_clks(records, schema, secret, validate=True, max_workers=max_workers)
    seconds = time.perf_counter() - t0
    with open(out_path, "w") as out:
        for c in clks:
            out.write(base64.b64encode(c.tobytes()).decode())
            out.write("\n")
    print(json.dumps({"version": clkhash.__version__, "records": len(clks), "generate_clks_seconds": seconds}))


if __name__ == "__main__":
    main()
