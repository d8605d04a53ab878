// A Web Push service stand-in (RFC 8030) over HTTPS, for trêve's Web Push channel tests: it
// plays both the push service and the browsers that subscribed, with independent
// implementations (node:crypto, npm `jose` for the VAPID token, npm `http_ece` to decrypt,
// npm `web-push` for VAPID keys), never trêve's code. Node.js 18 or later.
//
//   node push_service.mjs serve --cert server.pem --key server-key.pem
//        --subscriptions subs.json (--ids ID,ID,… | --count N)
//        [--application-server-key vapid.pem] [--log received.jsonl] [--no-verify]
//        [--port P] [--retry-after 120]
//
//     Makes one subscription per id as a browser does (a fresh P-256 key pair, a 16-byte auth
//     secret), writes them to --subscriptions as a JSON array of
//     {"id", "endpoint": "https://127.0.0.1:<port>/push/<id>", "keys": {"p256dh", "auth"}}
//     (what PushSubscription.toJSON() gives), then prints the port it listens on (HTTP/2 and
//     HTTP/1.1 over TLS, on 127.0.0.1) as one line on stdout. --count N: ids sub-0 … sub-(N-1).
//
//     Each POST /push/<id> is checked as a push service and a browser would:
//       - headers: Content-Encoding aes128gcm, TTL a number of seconds, Urgency very-low | low
//         | normal | high, a body of at most 4096 bytes;
//       - Authorization "vapid t=<JWT>, k=<key>": an ES256 JWT (typ JWT) signed by the P-256
//         public key k (which must be the --application-server-key's, when given), aud this
//         service's origin, exp in the future and at most 24 h ahead, sub mailto: or https:
//         (a header verified once is not verified again while its token is unexpired);
//       - the body decrypts (aes128gcm, RFC 8291) with the subscription's private key and auth.
//     and recorded as one JSON line appended to --log before the answer is sent:
//       {"id","status","headers":{"content-encoding","content-type","ttl","urgency",
//        "authorization"},"claims":{…},"plaintext","error"?}
//     A request that fails a check is answered 400 (401 for the token) with the reason, and
//     recorded with "error". Otherwise the answer depends on the subscription id's prefix:
//       gone410-…  410 Gone (the subscription expired)
//       gone404-…  404 Not Found
//       busy429-…  429 Too Many Requests, Retry-After: <--retry-after, 120>
//       down503-…  503 Service Unavailable (no Retry-After)
//       big413-…   413 Payload Too Large
//       slow<ms>-… 201 Created, <ms> milliseconds after the request was read and recorded (a
//                  message in flight while the sender stops)
//       any other  201 Created, with a Location
//     An id that was never made: 404 (recorded with "error": "unknown subscription").
//
//     --no-verify (for benchmarks): reads the body and answers by the id's prefix without
//     checking or decrypting anything, and records nothing.
//
//   node push_service.mjs vapid-keys --out vapid.pem
//     An application server key from web-push's generateVAPIDKeys(), written as a PKCS#8 PEM
//     private key (what a sink's vapid_key_file holds); prints the public key (base64url).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import process from 'node:process';

import ece from 'http_ece';
import * as jose from 'jose';
import webpush from 'web-push';

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const name = arg.slice(2);
    if (name === 'no-verify') {
      options[name] = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      options[name] = argv[++i];
    }
  }
  return options;
}

// The JWK of an uncompressed P-256 point (65 bytes, 0x04 || X || Y).
function pointJwk(point) {
  if (point.length !== 65 || point[0] !== 4) throw new Error('not an uncompressed P-256 point');
  return {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
  };
}

function vapidKeys(options) {
  if (!options.out) throw new Error('vapid-keys needs --out FILE');
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  const jwk = pointJwk(Buffer.from(publicKey, 'base64url'));
  jwk.d = privateKey;
  const pem = crypto.createPrivateKey({ key: jwk, format: 'jwk' })
    .export({ type: 'pkcs8', format: 'pem' });
  fs.writeFileSync(options.out, pem, { mode: 0o600 });
  console.log(publicKey);
}

const UrgencyValues = new Set(['very-low', 'low', 'normal', 'high']);

function answerFor(id, retryAfter) {
  if (id.startsWith('gone410-')) return { status: 410 };
  if (id.startsWith('gone404-')) return { status: 404 };
  if (id.startsWith('busy429-')) return { status: 429, headers: { 'retry-after': retryAfter } };
  if (id.startsWith('down503-')) return { status: 503 };
  if (id.startsWith('big413-')) return { status: 413 };
  const created = { status: 201, headers: { location: `/message/${crypto.randomUUID()}` } };
  const slow = /^slow(\d+)-/.exec(id);
  if (slow) created.delay = Number(slow[1]);
  return created;
}

// Runs `send` now, or answer.delay milliseconds from now (slow<ms>-…).
function later(answer, send) {
  if (answer.delay) setTimeout(send, answer.delay);
  else send();
}

class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Tokens verified already, by origin, expected key and header: an application server reuses its
// token for hours (RFC 8292 allows it up to 24 h), and a push service need not check the same
// signature again. Only the expiry is checked at each use.
const verifiedTokens = new Map();

// Checks the VAPID Authorization header (RFC 8292); the token's claims.
async function verifyVapid(header, origin, applicationServerKey) {
  const cacheKey = `${origin}\n${applicationServerKey ? applicationServerKey.x : ''}\n${header}`;
  const cached = verifiedTokens.get(cacheKey);
  if (cached && cached.exp > Math.floor(Date.now() / 1000)) return cached;
  const match = /^vapid t=([A-Za-z0-9_\-.]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || '');
  if (!match) throw new Refused(401, `Authorization is not "vapid t=…, k=…": ${header}`);
  const [, token, k] = match;
  const point = Buffer.from(k, 'base64url');
  let jwk;
  try {
    jwk = pointJwk(point);
  } catch (e) {
    throw new Refused(401, `k: ${e.message}`);
  }
  if (applicationServerKey && (jwk.x !== applicationServerKey.x || jwk.y !== applicationServerKey.y)) {
    throw new Refused(403, 'k is not the key the subscription was made for');
  }
  const key = await jose.importJWK(jwk, 'ES256');
  let verified;
  try {
    verified = await jose.jwtVerify(token, key, {
      algorithms: ['ES256'],
      typ: 'JWT',
      audience: origin,
      requiredClaims: ['exp', 'sub'],
    });
  } catch (e) {
    throw new Refused(401, `VAPID token: ${e.code || ''} ${e.message}`);
  }
  const claims = verified.payload;
  const now = Math.floor(Date.now() / 1000);
  if (claims.exp > now + 24 * 3600) throw new Refused(401, 'VAPID token: exp more than 24 h ahead');
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) {
    throw new Refused(401, 'VAPID token: sub is not a mailto: or https: URI');
  }
  if (verifiedTokens.size > 1000) verifiedTokens.clear();
  verifiedTokens.set(cacheKey, claims);
  return claims;
}

function checkHeaders(headers, body) {
  if (headers['content-encoding'] !== 'aes128gcm') {
    throw new Refused(400, `Content-Encoding: ${headers['content-encoding']}`);
  }
  if (!/^[0-9]+$/.test(headers.ttl || '')) throw new Refused(400, `TTL: ${headers.ttl}`);
  if (headers.urgency !== undefined && !UrgencyValues.has(headers.urgency)) {
    throw new Refused(400, `Urgency: ${headers.urgency}`);
  }
  if (body.length > 4096) throw new Refused(413, `a body of ${body.length} bytes`);
}

async function serve(options) {
  for (const required of ['cert', 'key', 'subscriptions']) {
    if (!options[required]) throw new Error(`serve needs --${required}`);
  }
  const ids = options.ids
    ? options.ids.split(',').filter((id) => id !== '')
    : Array.from({ length: Number(options.count || 0) }, (_, i) => `sub-${i}`);
  const verify = !options['no-verify'];
  const retryAfter = options['retry-after'] || '120';
  const log = options.log;
  let applicationServerKey = null;
  if (options['application-server-key']) {
    const pem = fs.readFileSync(options['application-server-key'], 'utf8');
    applicationServerKey = crypto.createPublicKey(pem).export({ format: 'jwk' });
  }

  // The browsers: one key pair and auth secret per subscription.
  const browsers = new Map();
  for (const id of ids) {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    browsers.set(id, { ecdh, auth: crypto.randomBytes(16).toString('base64url') });
  }

  const server = http2.createSecureServer({
    key: fs.readFileSync(options.key),
    cert: fs.readFileSync(options.cert),
    allowHTTP1: true,
    settings: { maxConcurrentStreams: 1000 },
  });
  let origin = '';

  async function handle(req, body) {
    const match = /^\/push\/([^/?]+)$/.exec(req.url);
    const id = match ? decodeURIComponent(match[1]) : '';
    const record = { id, status: 0, headers: {} };
    for (const h of ['content-encoding', 'content-type', 'ttl', 'urgency', 'authorization']) {
      if (req.headers[h] !== undefined) record.headers[h] = req.headers[h];
    }
    try {
      if (req.method !== 'POST') throw new Refused(405, `method ${req.method}`);
      const browser = browsers.get(id);
      if (!browser) throw new Refused(404, 'unknown subscription');
      checkHeaders(req.headers, body);
      record.claims = await verifyVapid(req.headers.authorization, origin, applicationServerKey);
      let plaintext;
      try {
        plaintext = ece.decrypt(body, {
          version: 'aes128gcm',
          privateKey: browser.ecdh,
          authSecret: browser.auth,
        });
      } catch (e) {
        throw new Refused(400, `cannot decrypt: ${e.message}`);
      }
      record.plaintext = plaintext.toString('utf8');
      const answer = answerFor(id, retryAfter);
      record.status = answer.status;
      return { record, answer };
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      record.status = e.status;
      record.error = e.message;
      return { record, answer: { status: e.status, body: e.message } };
    }
  }

  // Problems below HTTP (a session or stream torn down) go to stderr: the test prints it.
  server.on('sessionError', (e) => console.error(`push_service: session error: ${e.message}`));
  server.on('session', (session) => {
    session.on('goaway', (code) => console.error(`push_service: GOAWAY from the client (${code})`));
    session.on('stream', (stream) => stream.on('close', () => {
      if (stream.rstCode) console.error(`push_service: stream ${stream.id} reset (${stream.rstCode})`);
    }));
  });
  server.on('request', (req, res) => {
    req.on('error', (e) => console.error(`push_service: request error: ${e.message}`));
    res.on('error', (e) => console.error(`push_service: response error: ${e.message}`));
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // A stream the client tore down (trêve killed mid-send) may still end with its body cut
      // short: no push service takes that as a message, so nothing is recorded.
      const declared = req.headers['content-length'];
      if (req.aborted || (declared !== undefined && Number(declared) !== body.length)) {
        console.error(`push_service: request cut short (${body.length} of ${declared} bytes)`);
        if (!res.destroyed) { res.writeHead(400); res.end('request cut short'); }
        return;
      }
      if (!verify) {
        const match = /^\/push\/([^/?]+)$/.exec(req.url);
        const answer = answerFor(match ? match[1] : '', retryAfter);
        later(answer, () => {
          res.writeHead(answer.status, answer.headers || {});
          res.end();
        });
        return;
      }
      handle(req, body).then(({ record, answer }) => {
        if (log) fs.appendFileSync(log, `${JSON.stringify(record)}\n`);
        later(answer, () => {
          res.writeHead(answer.status, answer.headers || {});
          res.end(answer.body || '');
        });
      }, (e) => {
        console.error(e);
        res.writeHead(500);
        res.end(String(e));
      });
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(options.port || 0), '127.0.0.1', resolve);
  });
  const { port } = server.address();
  origin = `https://127.0.0.1:${port}`;
  const subscriptions = ids.map((id) => ({
    id,
    endpoint: `${origin}/push/${encodeURIComponent(id)}`,
    keys: {
      p256dh: browsers.get(id).ecdh.getPublicKey().toString('base64url'),
      auth: browsers.get(id).auth,
    },
  }));
  fs.writeFileSync(options.subscriptions, JSON.stringify(subscriptions));
  process.stdout.write(`${port}\n`);
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}

const [command, ...rest] = process.argv.slice(2);
try {
  const options = parseArgs(rest);
  if (command === 'serve') await serve(options);
  else if (command === 'vapid-keys') vapidKeys(options);
  else throw new Error('usage: push_service.mjs serve … | vapid-keys --out FILE');
} catch (e) {
  console.error(`push_service: ${e.message}`);
  process.exit(2);
}
