// A stand-in for Google's OAuth 2.0 token endpoint and the FCM HTTP v1 API, for trêve's FCM
// channel tests and benchmark (tests/daemon/fcm_channel_test.cpp, tests/bench/fcm_bench.cpp).
// Node.js 18 or later, ESM; the assertion is verified by the npm package `jose`.
//
//   node fcm_service.mjs --cert server.pem --key server.key --public-key account.pub
//        --client-email treve@test.iam.gserviceaccount.com [--key-id KID] [--project treve-test]
//        [--log messages.jsonl] [--expires-in 3600] [--check-order]
//
// Listens on 127.0.0.1, a port chosen by the system, over TLS with HTTP/2 (HTTP/1.1 also
// accepted), and prints the port on its own line on stdout once listening.
//
// POST /token    (application/x-www-form-urlencoded: grant_type=urn:ietf:params:oauth:
//                grant-type:jwt-bearer&assertion=<JWT>)
//   The assertion must be RS256, signed by the key whose public half is --public-key, with
//   iss = --client-email, aud = https://127.0.0.1:<port>/token, scope =
//   https://www.googleapis.com/auth/firebase.messaging, numeric iat and exp with
//   0 < exp - iat <= 3600, exp in the future, and kid = --key-id when given. Answer 200
//   {"access_token", "expires_in": --expires-in, "token_type": "Bearer"}; else 400
//   {"error": "invalid_grant", "error_description": why}, as Google's endpoint does.
//
// POST /v1/projects/<--project>/messages:send   (Authorization: Bearer <access token>)
//   The token must be one this stand-in issued and has not revoked. The body must be
//   {"message": {"token": string, "notification": {"title": string, "body": string},
//   "data": {string: string, …}, "android": {"priority": "high"|"normal"},
//   "apns": {"headers": {"apns-priority": "10"|"5"}}}} and nothing else; else 400
//   INVALID_ARGUMENT with a google.rpc.BadRequest field violation. An accepted message is
//   appended to --log as one JSON line {"token", "notification", "data", "android", "apns",
//   "session"} (session: which connection carried it, numbered from 1) and answered 200
//   {"name": "projects/<project>/messages/<n>"}. The device token's prefix asks for a failure:
//     unregistered-…      404 NOT_FOUND, errorCode UNREGISTERED (nothing logged)
//     invalid-…           400 INVALID_ARGUMENT, "The registration token is not a valid FCM
//                         registration token"
//     retry429-<s>-…      429 RESOURCE_EXHAUSTED, errorCode QUOTA_EXCEEDED, Retry-After: <s>
//                         (30 when no number follows the prefix)
//     fail503-…           503 UNAVAILABLE
//     slow<ms>-…          accepted, but answered <ms> milliseconds later
//   Errors are written as FCM writes them: {"error": {"code", "message", "status", "details"}}.
//
// --check-order: for each device token, the accepted messages' event ids (data.id, compared by
//   their trailing number: "e41" < "e310") must come in increasing order; each accepted message is
//   counted in /stats as fresh (above the token's last id), a repeat (the token's last id again:
//   a message sent twice) or late (below it: out of order), and the tokens that had a late one
//   are counted. Costs one Map entry per token, so a benchmark can check order without --log.
//
// POST /control  {"reject_next": N, "token_failures": N}   (either member optional)
//   reject_next: the next N messages:send are answered 401 UNAUTHENTICATED, and the first of
//   them revokes every access token issued so far (a revoked key, an expired token).
//   token_failures: the next N token requests are answered 503 {"error": "internal_failure"}.
//   Answers the statistics, as POST /stats does.
// POST /stats
//   {"connections": TLS connections accepted, "sessions": HTTP/2 sessions,
//    "max_streams": the most requests in progress at once on one connection,
//    "token_requests", "tokens_issued", "messages": accepted, "unauthorized": 401s sent,
//    "answered": messages:send answered in all, "first_message_at" and "last_message_at": when
//    the first and the last message were accepted (ms since the epoch, 0 before any), and with
//    --check-order "order_tokens" (device tokens seen), "order_fresh", "order_repeats",
//    "order_late" and "order_late_tokens" (tokens that had a late message)}
import fs from "node:fs";
import http2 from "node:http2";
import crypto from "node:crypto";
import { jwtVerify, importSPKI, decodeProtectedHeader } from "jose";

const kScope = "https://www.googleapis.com/auth/firebase.messaging";

function parseArgs(argv) {
  const args = { project: "treve-test", expiresIn: 3600 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (name === "--check-order") {
      args.checkOrder = true;
      i -= 1;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${name} needs a value`);
    switch (name) {
      case "--cert": args.cert = value; break;
      case "--key": args.key = value; break;
      case "--public-key": args.publicKey = value; break;
      case "--client-email": args.clientEmail = value; break;
      case "--key-id": args.keyId = value; break;
      case "--project": args.project = value; break;
      case "--log": args.log = value; break;
      case "--expires-in": args.expiresIn = Number(value); break;
      default: throw new Error(`unknown option ${name}`);
    }
  }
  for (const required of ["cert", "key", "publicKey", "clientEmail"]) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const publicKey = await importSPKI(fs.readFileSync(args.publicKey, "utf8"), "RS256");
const logFd = args.log ? fs.openSync(args.log, "a") : null;

const stats = {
  connections: 0, sessions: 0, max_streams: 0, token_requests: 0, tokens_issued: 0,
  messages: 0, unauthorized: 0, answered: 0, first_message_at: 0, last_message_at: 0,
};
if (args.checkOrder) {
  Object.assign(stats, { order_tokens: 0, order_fresh: 0, order_repeats: 0, order_late: 0, order_late_tokens: 0 });
}
const lastIdOfToken = new Map();  // --check-order: device token -> the number of its last event id
const lateTokens = new Set();     // --check-order: the tokens that had a message out of order
let rejectNext = 0;
let tokenFailures = 0;
let audience = "";
const validTokens = new Map();  // access token -> expiry (ms since the epoch)
const sessionIds = new WeakMap();
const activeStreams = new WeakMap();

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(text);
}

function fcmError(res, code, status, message, details = [], headers = {}) {
  send(res, code, { error: { code, message, status, details } }, headers);
}

function fcmErrorCode(errorCode) {
  return { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > 1 << 20) reject(new Error("body too large"));
      else chunks.push(c);
    });
    // A stream the client tore down (trêve killed mid-send) may still end: its body is cut
    // short, and no service would take it as a request.
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const declared = req.headers["content-length"];
      if (req.aborted || (declared !== undefined && Number(declared) !== body.length)) {
        reject(new Error("request cut short"));
      } else {
        resolve(body.toString("utf8"));
      }
    });
    req.on("error", reject);
  });
}

async function token(req, res, body) {
  stats.token_requests++;
  if (tokenFailures > 0) {
    tokenFailures--;
    return send(res, 503, { error: "internal_failure" });
  }
  const form = new URLSearchParams(body);
  if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    return send(res, 400, { error: "unsupported_grant_type", error_description: "Invalid grant_type" });
  }
  const assertion = form.get("assertion") ?? "";
  try {
    const header = decodeProtectedHeader(assertion);
    if (args.keyId && header.kid !== args.keyId) throw new Error("kid is not the key's id");
    const { payload } = await jwtVerify(assertion, publicKey, {
      algorithms: ["RS256"], issuer: args.clientEmail, audience,
    });
    if (payload.scope !== kScope) throw new Error(`scope is not ${kScope}`);
    if (typeof payload.iat !== "number" || typeof payload.exp !== "number") {
      throw new Error("iat and exp must be numbers");
    }
    const lifetime = payload.exp - payload.iat;
    if (!(lifetime > 0 && lifetime <= 3600)) throw new Error("exp - iat must be in (0, 3600]");
  } catch (e) {
    return send(res, 400, { error: "invalid_grant", error_description: `Invalid JWT: ${e.message}` });
  }
  const accessToken = `ya29.stand-in.${crypto.randomBytes(24).toString("base64url")}`;
  validTokens.set(accessToken, Date.now() + args.expiresIn * 1000);
  stats.tokens_issued++;
  send(res, 200, { access_token: accessToken, expires_in: args.expiresIn, token_type: "Bearer" });
}

// The first field that is not as the v1 API wants it, or null.
function violation(body) {
  let doc;
  try { doc = JSON.parse(body); } catch { return ["message", "Invalid JSON payload received."]; }
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isObject(doc) || Object.keys(doc).join() !== "message") return ["message", "one member, message"];
  const m = doc.message;
  if (!isObject(m)) return ["message", "must be an object"];
  for (const key of Object.keys(m)) {
    if (!["token", "notification", "data", "android", "apns"].includes(key)) {
      return [`message.${key}`, `Unknown name "${key}"`];
    }
  }
  if (typeof m.token !== "string" || m.token === "") return ["message.token", "must be a string"];
  const n = m.notification;
  if (!isObject(n) || typeof n.title !== "string" || typeof n.body !== "string" ||
      Object.keys(n).some((k) => k !== "title" && k !== "body")) {
    return ["message.notification", "title and body strings"];
  }
  if (!isObject(m.data)) return ["message.data", "must be a map of strings"];
  let index = 0;
  for (const [k, v] of Object.entries(m.data)) {
    if (typeof v !== "string") return [`message.data[${index}].value`, `Invalid value (TYPE_STRING), ${v}`];
    index++;
  }
  const dataBytes = Object.entries(m.data).reduce((s, [k, v]) => s + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (dataBytes > 4096) return ["message.data", "Message is too big"];
  if (!isObject(m.android) || !["high", "normal"].includes(m.android.priority)) {
    return ["message.android.priority", "must be high or normal"];
  }
  const h = isObject(m.apns) && isObject(m.apns.headers) ? m.apns.headers : null;
  if (!h || !["10", "5"].includes(h["apns-priority"])) {
    return ["message.apns.headers", "apns-priority must be \"10\" or \"5\""];
  }
  return null;
}

function checkOrder(m) {
  const n = Number(/(\d+)$/.exec(String(m.data.id ?? ""))?.[1] ?? NaN);
  if (Number.isNaN(n)) return;
  const last = lastIdOfToken.get(m.token);
  if (last === undefined) stats.order_tokens++;
  if (last === undefined || n > last) {
    stats.order_fresh++;
    lastIdOfToken.set(m.token, n);
  } else if (n === last) {
    stats.order_repeats++;
  } else {
    stats.order_late++;
    lateTokens.add(m.token);
    stats.order_late_tokens = lateTokens.size;
  }
}

async function messagesSend(req, res, body) {
  stats.answered++;
  const auth = req.headers["authorization"] ?? "";
  const bearer = auth.startsWith("Bearer ") ? auth.slice(7) : "";
  if (rejectNext > 0) {
    rejectNext--;
    validTokens.clear();
  }
  const expiry = validTokens.get(bearer);
  if (expiry === undefined || expiry < Date.now()) {
    stats.unauthorized++;
    return fcmError(res, 401, "UNAUTHENTICATED",
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
  }
  const bad = violation(body);
  if (bad) {
    return fcmError(res, 400, "INVALID_ARGUMENT", `Invalid value at '${bad[0]}': ${bad[1]}`, [
      { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: bad[0], description: bad[1] }] },
    ]);
  }
  const m = JSON.parse(body).message;
  const t = m.token;
  if (t.startsWith("unregistered-")) {
    return fcmError(res, 404, "NOT_FOUND", "Requested entity was not found.", [fcmErrorCode("UNREGISTERED")]);
  }
  if (t.startsWith("invalid-")) {
    return fcmError(res, 400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
      [fcmErrorCode("INVALID_ARGUMENT")]);
  }
  if (t.startsWith("retry429-")) {
    const seconds = /^retry429-(\d+)/.exec(t)?.[1] ?? "30";
    return fcmError(res, 429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'.",
      [fcmErrorCode("QUOTA_EXCEEDED")], { "retry-after": seconds });
  }
  if (t.startsWith("fail503-")) {
    return fcmError(res, 503, "UNAVAILABLE", "The service is currently unavailable.", [fcmErrorCode("UNAVAILABLE")]);
  }
  const slow = /^slow(\d+)-/.exec(t);
  if (slow) await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
  stats.messages++;
  const now = Date.now();
  if (stats.first_message_at === 0) stats.first_message_at = now;
  stats.last_message_at = now;
  if (args.checkOrder) checkOrder(m);
  if (logFd !== null) {
    const session = req.stream ? sessionIds.get(req.stream.session) ?? 0 : 0;
    fs.writeSync(logFd, JSON.stringify({
      token: m.token, notification: m.notification, data: m.data, android: m.android, apns: m.apns, session,
    }) + "\n");
  }
  send(res, 200, { name: `projects/${args.project}/messages/${stats.messages}` });
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), allowHTTP1: true,
});
server.on("secureConnection", () => { stats.connections++; });
server.on("session", (session) => {
  stats.sessions++;
  const id = stats.sessions;
  sessionIds.set(session, id);
  activeStreams.set(session, 0);
  session.on("error", (e) => process.stderr.write(`session ${id}: error ${e.code ?? ""} ${e.message}\n`));
  session.on("goaway", (code) => process.stderr.write(`session ${id}: goaway from the client, code ${code}\n`));
  session.on("frameError", (type, code) => process.stderr.write(`session ${id}: frame error type ${type} code ${code}\n`));
});
server.on("stream", (stream) => {
  const session = stream.session;
  const active = (activeStreams.get(session) ?? 0) + 1;
  activeStreams.set(session, active);
  stats.max_streams = Math.max(stats.max_streams, active);
  stream.on("close", () => activeStreams.set(session, (activeStreams.get(session) ?? 1) - 1));
});

const sendPath = `/v1/projects/${args.project}/messages:send`;
server.on("request", async (req, res) => {
  let body;
  try {
    body = await readBody(req);
  } catch (e) {
    process.stderr.write(`fcm_service: ${e.message}\n`);
    return send(res, 413, { error: e.message });
  }
  if (req.method !== "POST") return send(res, 405, { error: "POST only" });
  const path = req.url.split("?")[0];
  try {
    if (path === "/token") return await token(req, res, body);
    if (path === sendPath) return await messagesSend(req, res, body);
    if (path === "/control") {
      const c = body ? JSON.parse(body) : {};
      if (Number.isInteger(c.reject_next)) rejectNext = c.reject_next;
      if (Number.isInteger(c.token_failures)) tokenFailures = c.token_failures;
      return send(res, 200, stats);
    }
    if (path === "/stats") return send(res, 200, stats);
    if (path.startsWith("/v1/projects/")) {
      return fcmError(res, 404, "NOT_FOUND", "Requested entity was not found.");
    }
    send(res, 404, { error: "not found" });
  } catch (e) {
    send(res, 500, { error: String(e) });
  }
});

server.listen(0, "127.0.0.1", () => {
  const port = server.address().port;
  audience = `https://127.0.0.1:${port}/token`;
  process.stdout.write(`${port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
