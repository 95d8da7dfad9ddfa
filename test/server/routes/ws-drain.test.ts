/**
 * A broker that stops (SIGTERM: Broker.close, server/app.ts) lets the WebSocket verifications in flight
 * finish and answer before it ends the sockets, and refuses those that arrive meanwhile with SHUTTING_DOWN:
 * every verify message gets an answer. An outside probe found sockets closed with 1001 under load with
 * hundreds of messages unanswered, some of them decisions the audit log already held.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDemoSchema } from '../../../demo/people.js';
import { api, b64, perturb, randomClk, startTestBroker, type TestBroker } from '../helpers.js';
import { Client } from './ws-client.js';

let t: TestBroker;
const clks = Array.from({ length: 200 }, (_, i) => randomClk(1024, 70_000 + i));

beforeAll(async () => {
  t = await startTestBroker();
  await api(t.url, 'PUT', '/v1/datasets/d', { token: t.tokens.dp, body: { schema: loadDemoSchema(), claims: [] } });
  const jsonl = clks.map((c, i) => JSON.stringify({ ref: `d${i}`, clk: b64(c), claims: {} })).join('\n');
  const up = await api(t.url, 'POST', '/v1/datasets/d/versions', {
    token: t.tokens.dp,
    raw: jsonl,
    contentType: 'application/x-ndjson',
  });
  expect(up.status, up.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.broker.close();
});

it('closing the broker answers every verify message in flight, or refuses it with SHUTTING_DOWN', async () => {
  const sockets = await Promise.all(
    [0, 1, 2, 3].map(() => Client.open(t.url, { authorization: `Bearer ${t.tokens.rp}` })),
  );
  const sent: { c: Client; id: number }[] = [];
  for (const [s, c] of sockets.entries())
    for (let i = 0; i < 50; i++) {
      const id = s * 1000 + i;
      c.send({ type: 'verify', id, dataset: 'd', clk: b64(perturb(clks[i]!, 4)), purpose: 'age_verification' });
      sent.push({ c, id });
    }
  // Verifications are flowing (one answered, the rest on their way to the audit log): stop the broker now.
  await sockets[0]!.next((m) => m.type === 'result');
  const closed = t.broker.close();
  const codes = await Promise.all(sockets.map((c) => c.whenClosed()));
  await closed;
  expect(codes.map((c) => c.code)).toEqual([1001, 1001, 1001, 1001]);
  const answers = sent.map(({ c, id }) => c.messages.find((m) => m.id === id));
  const unanswered = sent.filter((_, i) => answers[i] === undefined).map(({ id }) => id);
  expect(unanswered).toEqual([]);
  for (const a of answers)
    if (a.type !== 'result') expect(a.problem).toMatchObject({ status: 503, code: 'SHUTTING_DOWN' });
  // The broker was mid-work: some were answered in full while it closed.
  expect(answers.filter((a) => a.type === 'result').length).toBeGreaterThan(1);
}, 60_000);
