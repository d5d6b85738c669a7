// A certified OpenID provider (the `oidc-provider` npm package) for the identity tests.
//
//   node oidc_idp.mjs '<json settings>'
//
// settings: {port, resources: [uri...], scope (space-separated), clients: [client metadata...],
//            claims: {<client id or account id>: {claim: value}}, alg, ttl (access token seconds)}
// It listens on 127.0.0.1:<port> with a fresh key set, prints "ready <issuer>" and then
// serves until killed. Three test-only endpoints change it while it runs:
//   POST /__test/rotate  a new signing key is published first (it signs from now on);
//                        the old keys stay published
//   POST /__test/retire  only the newest key stays published
//   POST /__test/sign    signs the posted {header, payload} with the current key
// Access tokens are JWTs (RFC 9068) for the requested resource indicator (RFC 8707).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import { SignJWT, importJWK } from 'jose';
import Provider, { errors } from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${settings.port}`;
const alg = settings.alg ?? 'RS256';
const resources = new Set(settings.resources);
const ttl = settings.ttl ?? 300;

function newKey() {
  const { privateKey } = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}

let keys = [newKey()];

function configuration() {
  return {
    clients: settings.clients,
    jwks: { keys },
    scopes: ['openid', 'offline_access', ...settings.scope.split(' ')],
    pkce: { required: () => true },
    clientBasedCORS: () => true,
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    extraTokenClaims: async (_ctx, token) => settings.claims[token.accountId ?? token.clientId] ?? {},
    ttl: { AccessToken: ttl, ClientCredentials: ttl },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      registration: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? settings.resources[0],
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (!resources.has(resource)) throw new errors.InvalidTarget();
          return {
            scope: settings.scope,
            audience: resource,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
  };
}

let handler = new Provider(issuer, configuration()).callback();

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

async function testEndpoint(req, res) {
  if (req.url === '/__test/rotate') {
    keys = [newKey(), ...keys];
    handler = new Provider(issuer, configuration()).callback();
  } else if (req.url === '/__test/retire') {
    keys = [keys[0]];
    handler = new Provider(issuer, configuration()).callback();
  } else if (req.url === '/__test/sign') {
    const { header, payload } = await body(req);
    const key = await importJWK(keys[0], alg);
    const token = await new SignJWT(payload).setProtectedHeader({ alg, kid: keys[0].kid, ...header }).sign(key);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token }));
    return;
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kids: keys.map((k) => k.kid) }));
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__test/')) {
    testEndpoint(req, res).catch((err) => res.writeHead(500).end(String(err)));
    return;
  }
  handler(req, res);
});
server.listen(settings.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
