"""clkhash 0.18.3 encoding records in one process, for bench/encoding.ts.

Reads a job from stdin, {"schema": <linkage schema>, "secret": str, "records": [[str, ...], ...]},
encodes it with generate_clks(max_workers=1) (its caches on, data validated), and prints one
JSON line: {"version", "seconds" (process CPU time of generate_clks), "clks" (base64)}.
"""
import base64
import json
import sys
import time

try:
    import clkhash
    from clkhash import clk, schema as clk_schema
except Exception as e:  # noqa: BLE001 - reported to the bench, which prints a skipped row
    print(json.dumps({"error": "cannot import clkhash: " + type(e).__name__}))
    sys.exit(0)

job = json.load(sys.stdin)
s = clk_schema.from_json_dict(job["schema"])
t0 = time.process_time()
clks = clk.generate_clks(job["records"], s, job["secret"], validate=True, max_workers=1)
seconds = time.process_time() - t0
print(
    json.dumps(
        {
            "version": clkhash.__version__,
            "seconds": seconds,
            "clks": [base64.b64encode(c.tobytes()).decode() for c in clks],
        }
    )
)
