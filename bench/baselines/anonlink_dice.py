"""anonlink 0.15 Dice similarity (its C++ kernel, one thread), for bench/dice.ts.

usage: python3 anonlink_dice.py FILTERS_FILE QUERIES BASE BYTES THRESHOLD TOP_K SECONDS
FILTERS_FILE holds QUERIES + BASE filters of BYTES bytes each, queries first. Runs
dice_coefficient_accelerated over queries x base for at least SECONDS and prints one JSON
line: {"bestWindowRate": comparisons per second in the best window of >= 100 ms}, the
same measure as the other rows of the benchmark.
"""
import json
import sys
import time

from anonlink.similarities import dice_coefficient_accelerated
from bitarray import bitarray

path = sys.argv[1]
nq, nb, nbytes = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
threshold, k, seconds = float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
with open(path, "rb") as f:
    data = f.read()


def filters(start, n):
    out = []
    for i in range(n):
        ba = bitarray()
        ba.frombytes(data[(start + i) * nbytes : (start + i + 1) * nbytes])
        out.append(ba)
    return out


queries, base = filters(0, nq), filters(nq, nb)
dice_coefficient_accelerated([queries[:1], base[:1000]], threshold, k)  # warm-up
t0 = time.perf_counter()
best = 0.0
w0 = t0
wc = 0
while True:
    dice_coefficient_accelerated([queries, base], threshold, k)
    wc += nq * nb
    t = time.perf_counter()
    if t - w0 >= 0.1:
        best = max(best, wc / (t - w0))
        w0 = t
        wc = 0
    if t - t0 > seconds and best > 0:
        break
print(json.dumps({"bestWindowRate": best}))
