/**
 * moto's server (PyPI `moto[server]`) as an S3 API that checks SigV4
 * signatures and IAM policies: started on a free loopback port with
 * authentication off while the test sets up IAM users, keys, a policy, a
 * bucket and objects, then switched on (POST /moto-api/reset-auth 0), so every
 * request after that is signed, authenticated and authorised as on AWS.
 *
 * MOTO_SERVER_BIN names the moto_server executable (.ci/run installs it in a
 * virtualenv and exports it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'minio';
import { freePort } from '../cache/redis-server.js';

export interface MotoServer {
  endpoint: string;
  /** IAM: a user with an access key; `policy` (an IAM policy document) attached inline when given. */
  createUser(name: string, policy?: object): Promise<{ accessKey: string; secretKey: string }>;
  /** With authentication still off: create a bucket and put objects. */
  putObjects(bucket: string, objects: Record<string, string | Buffer>): Promise<void>;
  /** From now on every request must be signed by a known key and allowed by its policy. */
  enforceAuth(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(bin: string): Promise<MotoServer> {
  const port = await freePort();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: 'inf', MOTO_CALL_RESET_API: 'false' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${stderr}`);
    const up = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // IAM's query API; moto routes a request to a service by the credential scope of its Authorization
  // header, and checks nothing while authentication is off, so the header only has to name iam.
  async function iam(params: Record<string, string>): Promise<string> {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIASETUPSETUPSETUP1/20260101/us-east-1/iam/aws4_request, ' +
          'SignedHeaders=host, Signature=0',
      },
      body: new URLSearchParams({ Version: '2010-05-08', ...params }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`IAM ${params.Action} failed: ${res.status} ${text.slice(0, 300)}`);
    return text;
  }

  return {
    endpoint,
    async createUser(name, policy) {
      await iam({ Action: 'CreateUser', UserName: name });
      const xml = await iam({ Action: 'CreateAccessKey', UserName: name });
      const accessKey = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
      const secretKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(xml)?.[1];
      if (!accessKey || !secretKey) throw new Error('CreateAccessKey returned no key');
      if (policy)
        await iam({
          Action: 'PutUserPolicy',
          UserName: name,
          PolicyName: `${name}-policy`,
          PolicyDocument: JSON.stringify(policy),
        });
      return { accessKey, secretKey };
    },
    async putObjects(bucket, objects) {
      const client = new Client({
        endPoint: '127.0.0.1',
        port,
        useSSL: false,
        accessKey: 'AKIASETUPSETUPSETUP1',
        secretKey: 'setup',
        region: 'us-east-1',
        pathStyle: true,
      });
      if (!(await client.bucketExists(bucket))) await client.makeBucket(bucket, 'us-east-1');
      for (const [key, body] of Object.entries(objects)) await client.putObject(bucket, key, Buffer.from(body));
    },
    async enforceAuth() {
      const res = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
      if (!res.ok) throw new Error(`moto reset-auth answered ${res.status}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    },
  };
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface CountingProxy {
  endpoint: string;
  /** `METHOD path` of every request passed through, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of the store that records each request and
 * passes it on byte for byte (Host included, so SigV4 signatures still hold):
 * how a test sees that a pull sent one GET and did not retry.
 */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const upstream = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
