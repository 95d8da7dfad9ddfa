/** Problem mapping (server/http/problem.ts): coded errors keep their status; anything else leaks nothing. */
import { describe, expect, it } from 'vitest';
import { PavilionError } from '../../../common/errors.js';
import { toProblem } from '../../../server/http/problem.js';

describe('problem mapping', () => {
  it('a PavilionError keeps its status and code', () => {
    expect(toProblem(new PavilionError('DATASET_NOT_FOUND', 'no such dataset'))).toMatchObject({
      status: 404,
      code: 'DATASET_NOT_FOUND',
      detail: 'no such dataset',
      title: 'Not Found',
    });
  });
  it('anything else is 500 INTERNAL without detail leak', () => {
    let seen: unknown;
    const p = toProblem(new Error('secret stuff at /home/x'), (e) => (seen = e));
    expect(p).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'internal error' });
    expect(JSON.stringify(p)).not.toContain('secret stuff');
    expect(seen).toBeInstanceOf(Error);
  });
});
