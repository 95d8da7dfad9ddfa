/**
 * The demo page's script (bundled by client/build.ts, served at /demo/app.js):
 * encodes what the person types into a CLK with the client library (the
 * repository's encoder, in wasm), verifies it over the WebSocket and checks
 * the answer's receipt, all in the browser. See server/demo-page.ts for why
 * this page exists only on development brokers.
 */
import { Pavilion, PavilionApiError } from '../../client/index.js';

interface Session {
  dataset: string;
  schema: unknown;
  secret: string;
  token: string;
}

const $ = (id: string) => document.getElementById(id) as HTMLElement;
const field = (id: string) => (document.getElementById(id) as HTMLInputElement).value.trim();

function show(id: string, text: string, tone?: 'ok' | 'bad'): void {
  const el = $(id);
  el.textContent = text;
  el.className = tone ?? '';
}

async function main(): Promise<void> {
  const res = await fetch('/demo/session');
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as { detail?: string };
    show('status', `The demo is not available: ${problem.detail ?? res.status}`, 'bad');
    return;
  }
  const session = (await res.json()) as Session;
  const pv = new Pavilion({ url: location.origin, token: session.token });
  const encoder = pv.encoder(session.schema, session.secret);
  const button = $('verify') as HTMLButtonElement;
  button.disabled = false;
  show('status', 'Ready: type a person and verify.');

  $('person').addEventListener('submit', (ev) => {
    ev.preventDefault();
    button.disabled = true;
    for (const id of ['clk', 'decision', 'score', 'claims', 'receipt']) show(id, '');
    void (async () => {
      try {
        const clk = encoder.encodeRecord({
          given_name: field('given_name'),
          surname: field('surname'),
          dob: field('dob'),
          postcode: field('postcode'),
        });
        let b64 = '';
        for (const b of clk) b64 += String.fromCharCode(b);
        show('clk', btoa(b64));
        show('status', 'Verifying…');
        const answer = await pv.socket().verify({
          dataset: session.dataset,
          clk,
          claims: ['over_18', 'over_21'],
          purpose: 'age_verification',
        });
        show('decision', answer.decision, answer.decision === 'match' ? 'ok' : 'bad');
        show('score', answer.score.toFixed(3));
        show('claims', JSON.stringify(answer.claims));
        show('status', 'Checking the receipt…');
        const check = await pv.checkReceipt(answer);
        show(
          'receipt',
          `verified: entry ${check.index} is in the log ${check.origin} of ${check.treeSize} entries, signed by ` +
            `${check.verifiedBy.join(', ')}`,
          'ok',
        );
        show('status', 'Done.');
      } catch (err) {
        const code = err instanceof PavilionApiError ? err.code : ((err as { code?: string }).code ?? 'ERROR');
        show('status', `${code}: ${(err as Error).message}`, 'bad');
      } finally {
        button.disabled = false;
      }
    })();
  });
}

void main().catch((err: unknown) => show('status', `The demo failed to start: ${(err as Error).message}`, 'bad'));
