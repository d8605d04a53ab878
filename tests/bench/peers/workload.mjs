// The workload of tests/bench/peers/run, the same as bench_peers_treve's (peers_treve.cpp):
// event i goes to recipient u-(i % 10000); its sequence number for that recipient counts the
// single phase's events first, then the bulk phase's.
import http from 'node:http';

export const RECIPIENTS = 10000;

export function args () {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

function singleCount (n, r) {
  return r < n ? Math.floor((n - r + RECIPIENTS - 1) / RECIPIENTS) : 0;
}

// The job's data: what the worker POSTs to the sink, shaped like trêve's delivery (recipient,
// payload.seq) so that one script checks every peer's order.
export function event (n, phase, i) {
  const r = i % RECIPIENTS;
  const seq = (phase === 's' ? 0 : singleCount(n, r)) + Math.floor(i / RECIPIENTS);
  return {
    id: `${phase}-${i}`,
    establishment: '0750654D',
    category: 'message',
    recipient: `u-${String(r).padStart(5, '0')}`,
    role: 'student',
    title: 'Nouveau message',
    payload: { seq, thread: `t-${i}` }
  };
}

// Lane k of `lanes`: the indices whose recipient r has r % lanes == k, in order.
export function lane (n, lanes, k) {
  const out = [];
  for (let i = 0; i < n; i++) if ((i % RECIPIENTS) % lanes === k) out.push(i);
  return out;
}

export function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// POSTs a JSON body to the sink over keep-alive connections; resolves on 2xx.
export function poster (sinkUrl, maxSockets) {
  const url = new URL(sinkUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return (body) => new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300)
        ? resolve()
        : reject(new Error(`sink answered ${res.statusCode}`)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function rssKb () {
  return process.resourceUsage().maxRSS;
}
