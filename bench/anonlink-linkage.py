"""anonlink baseline for bench/linkage.ts: the same CLKs, linked by anonlink 0.15.

Usage: python3 bench/anonlink-linkage.py DATASET.bin QUERIES.bin BYTES THRESHOLD
(files of concatenated CLKs). Prints one JSON object: seconds for find_candidate_pairs
(anonlink's C++ Dice kernel, one thread) and for greedy_solve, and the pair count.
"""
import json
import sys
import time

import anonlink
from bitarray import bitarray


def load(path, size):
    data = open(path, 'rb').read()
    out = []
    for i in range(0, len(data), size):
        ba = bitarray()
        ba.frombytes(data[i:i + size])
        out.append(ba)
    return out


def main():
    dataset_path, queries_path, size, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    a = load(dataset_path, size)
    b = load(queries_path, size)
    t0 = time.perf_counter()
    candidates = anonlink.candidate_generation.find_candidate_pairs(
        [b, a], anonlink.similarities.dice_coefficient, threshold)
    t1 = time.perf_counter()
    groups = anonlink.solving.greedy_solve(candidates)
    t2 = time.perf_counter()
    print(json.dumps({'seconds': t1 - t0, 'solveSeconds': t2 - t1, 'pairs': len(candidates[0]),
                      'groups': len(groups), 'comparisons': len(a) * len(b)}))


main()
