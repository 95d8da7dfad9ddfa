/**
 * A real HTTP identity provider stand-in on 127.0.0.1 for the verifier tests:
 * serves an OIDC discovery document and a JWKS that a test can swap (key
 * rotation), and counts JWKS fetches so refetch behaviour can be asserted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';

export interface JwksServer {
  readonly baseUrl: string;
  /** Issuer served in discovery: <base>/realms/pavilion (Keycloak's shape). */
  readonly issuer: string;
  readonly jwksUrl: string;
  jwks: JSONWebKeySet;
  /** Overrides the `issuer` field of the discovery document (mix-up test). */
  discoveryIssuer?: string;
  jwksFetches: number;
  /** When set, the JWKS endpoint answers this status and no key set (an IdP in trouble). */
  jwksStatus?: number;
  discoveryFetches: number;
  close(): Promise<void>;
}

export async function startJwksServer(initial: JSONWebKeySet): Promise<JwksServer> {
  let server: Server;
  const state = { jwks: initial, jwksFetches: 0, discoveryFetches: 0 } as JwksServer;
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/realms/pavilion/.well-known/openid-configuration') {
      state.discoveryFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: state.discoveryIssuer ?? state.issuer, jwks_uri: state.jwksUrl }));
    } else if (path === '/realms/pavilion/protocol/openid-connect/certs') {
      state.jwksFetches++;
      if (state.jwksStatus !== undefined) {
        res.writeHead(state.jwksStatus).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.jwks));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  Object.assign(state, {
    baseUrl,
    issuer: `${baseUrl}/realms/pavilion`,
    jwksUrl: `${baseUrl}/realms/pavilion/protocol/openid-connect/certs`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return state;
}
