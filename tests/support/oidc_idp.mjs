// A certified OpenID provider (the `oidc-provider` npm package) for the identity tests.
//
//   node oidc_idp.mjs '<json settings>'
//
// settings: {port, resources: [uri...], scope (space-separated), clients: [client metadata...],
//            claims: {<client id or account id>: {claim: value}}, alg, ttl (access token seconds),
//            exchange: {audiences: [uri...], ttl: seconds}}
// It listens on 127.0.0.1:<port> with a fresh key set, prints "ready <issuer>" and then
// serves until killed. Three test-only endpoints change it while it runs:
//   POST /__test/rotate  a new signing key is published first (it signs from now on);
//                        the old keys stay published
//   POST /__test/retire  only the newest key stays published
//   POST /__test/sign    signs the posted {header, payload} with the current key
//   POST /__test/exchanges  how many token exchanges were granted so far
// Access tokens are JWTs (RFC 9068) for the requested resource indicator (RFC 8707).
// Token exchange (RFC 8693) is registered as a grant: a client allowed the grant sends an
// access token this provider issued (subject_token) and an `audience` from
// exchange.audiences; it gets a JWT access token for that audience with the original
// subject and an `act` claim naming the client (the earlier actor chain nested inside).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import { SignJWT, createLocalJWKSet, importJWK, jwtVerify } from 'jose';
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

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const exchange = { audiences: new Set(settings.exchange?.audiences ?? []), ttl: settings.exchange?.ttl ?? 300 };
let exchanges = 0;

async function signWithCurrentKey(payload, header = {}) {
  const key = await importJWK(keys[0], alg);
  return new SignJWT(payload).setProtectedHeader({ alg, kid: keys[0].kid, ...header }).sign(key);
}

async function subjectClaims(token) {
  const publicKeys = keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub);
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: publicKeys }), { issuer });
    return payload;
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token is invalid (${err.code ?? 'unverifiable'})`);
  }
}

async function tokenExchange(ctx) {
  const { params, client } = ctx.oidc;
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (!params.audience) throw new errors.InvalidRequest('audience is required');
  if (!exchange.audiences.has(params.audience)) {
    throw new errors.InvalidTarget(`tokens for audience ${params.audience} are not issued by exchange`);
  }
  const subject = await subjectClaims(params.subject_token);
  const now = Math.floor(Date.now() / 1000);
  // The chain so far: the subject token's own `act`, or the client it was issued to when
  // that client acted for someone else (an agent signed in for a person).
  const prior = subject.act ?? (subject.client_id && subject.client_id !== subject.sub ? { sub: subject.client_id } : null);
  const act = prior ? { sub: client.clientId, act: prior } : { sub: client.clientId };
  const payload = {
    iss: issuer,
    sub: subject.sub,
    aud: params.audience,
    client_id: client.clientId,
    act,
    scope: params.scope || subject.scope,
    jti: randomUUID(),
    iat: now,
    exp: now + exchange.ttl,
  };
  exchanges += 1;
  ctx.body = {
    access_token: await signWithCurrentKey(payload, { typ: 'at+jwt' }),
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: exchange.ttl,
    ...(payload.scope ? { scope: payload.scope } : {}),
  };
}

function newProvider() {
  const provider = new Provider(issuer, configuration());
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    tokenExchange,
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope'],
    [],
  );
  return provider;
}

let handler = newProvider().callback();

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

async function testEndpoint(req, res) {
  if (req.url === '/__test/rotate') {
    keys = [newKey(), ...keys];
    handler = newProvider().callback();
  } else if (req.url === '/__test/retire') {
    keys = [keys[0]];
    handler = newProvider().callback();
  } else if (req.url === '/__test/sign') {
    const { header, payload } = await body(req);
    const token = await signWithCurrentKey(payload, header);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token }));
    return;
  } else if (req.url === '/__test/exchanges') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ exchanges }));
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
