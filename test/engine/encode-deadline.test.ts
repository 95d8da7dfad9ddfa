/**
 * Bounded encoding (engine/engine.ts encode's `taskDeadlineMs` and `signal`): a schema pattern that backtracks
 * exponentially on a value would hold its worker for hours; past the deadline, or once the caller aborts, the
 * worker is terminated and the pool starts another. One worker, so a pool that kept the stuck one would never
 * answer the next encode.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PavilionError } from '../../common/errors.js';
import { loadDemoSchema } from '../../demo/people.js';
import { createEngine, type Engine } from '../../engine/index.js';

/** The demo schema with a postcode pattern that backtracks exponentially on a run of a's not followed by one. */
function backtrackingSchema(): Record<string, unknown> {
  const schema = loadDemoSchema() as { features: { identifier: string; format?: Record<string, unknown> }[] };
  const postcode = schema.features.find((f) => f.identifier === 'postcode')!;
  postcode.format = { type: 'string', encoding: 'utf-8', pattern: '(a+)+$' };
  return schema;
}

const SECRET = 'a linkage secret';
const schema = backtrackingSchema();
/** 40 a's and a '!': hours of backtracking (each a doubles it). */
const stuck = ['r1', 'ada', 'lovelace', '1815-12-10', `${'a'.repeat(40)}!`];
const fine = ['r2', 'ada', 'lovelace', '1815-12-10', 'aaaa'];

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ threads: 1 });
});
afterAll(async () => {
  await engine?.close();
});

const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (err: PavilionError) => err.code,
  );

it('a task past its deadline ends with ENCODE_TIMEOUT, and the replaced worker encodes the next record', async () => {
  expect(await codeOf(engine.encode(schema, SECRET, [stuck], { taskDeadlineMs: 200 }))).toBe('ENCODE_TIMEOUT');
  expect((await engine.encode(schema, SECRET, [fine])).length).toBe(128);
}, 60_000);

it('the deadline counts a task from its start, not its wait in the queue behind another', async () => {
  // The second waits behind the first for longer than its own deadline, then runs well within it.
  const first = engine.encode(schema, SECRET, [stuck], { taskDeadlineMs: 1500 });
  const second = engine.encode(schema, SECRET, [fine], { taskDeadlineMs: 1000 });
  expect(await codeOf(first)).toBe('ENCODE_TIMEOUT');
  expect((await second).length).toBe(128);
}, 60_000);

it("aborting the caller's signal ends a running task with the signal's reason, and frees the worker", async () => {
  const caller = new AbortController();
  const encoding = engine.encode(schema, SECRET, [stuck], { signal: caller.signal });
  setTimeout(() => caller.abort(new PavilionError('CLIENT_ABORTED', 'client went away')), 200);
  expect(await codeOf(encoding)).toBe('CLIENT_ABORTED');
  expect((await engine.encode(schema, SECRET, [fine], { signal: new AbortController().signal })).length).toBe(128);
  // Already aborted: nothing runs.
  expect(await codeOf(engine.encode(schema, SECRET, [fine], { signal: caller.signal }))).toBe('CLIENT_ABORTED');
  // A reason that is not a PavilionError is not passed on as such.
  expect(await codeOf(engine.encode(schema, SECRET, [fine], { signal: AbortSignal.abort() }))).toBe('ENGINE_INTERNAL');
}, 60_000);

it('refuses a deadline that is not a positive number', async () => {
  for (const taskDeadlineMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    expect(await codeOf(engine.encode(schema, SECRET, [fine], { taskDeadlineMs }))).toBe('ENGINE_OPTIONS_INVALID');
  }
});
