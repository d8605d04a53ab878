// The producer side of tests/bench/peers/run for BullMQ and pg-boss: N delayed jobs one at a
// time with 32 in flight (lane k: the recipients r % 32 == k, in order), then N more in bulk,
// 1000 per call with 4 calls in flight (lane k: r % 4 == k), every job due at T.
//
//   node producer.mjs --peer bullmq --events N --T EPOCH_MS --queue NAME --redis-port P
//   node producer.mjs --peer pgboss --events N --T EPOCH_MS --queue NAME --pg-host SOCKETDIR
//        --pg-schema SCHEMA
//
// Prints one JSON line {"event":"ingested",...} and exits.
import { args, emit, event, lane, rssKb } from './workload.mjs';

const a = args();
const n = Number(a.events);
const T = Number(a.T);
const SINGLE_LANES = 32;
const BULK_LANES = 4;
const BULK = 1000;

async function timed (lanes, perLane) {
  const start = performance.now();
  let failed = 0;
  let done = 0;
  await Promise.all(Array.from({ length: lanes }, async (_, k) => {
    try {
      const c = await perLane(k);
      done += c;
    } catch (e) {
      failed++;
      console.error(`lane ${k}: ${e.stack || e}`);
    }
  }));
  return { seconds: (performance.now() - start) / 1000, done, failed };
}

let single, bulk, close, settings;
if (a.peer === 'bullmq') {
  const { Queue } = await import('bullmq');
  const queue = new Queue(a.queue, { connection: { host: '127.0.0.1', port: Number(a['redis-port']) } });
  await queue.waitUntilReady();
  const opts = () => ({ delay: Math.max(0, T - Date.now()), removeOnComplete: true });
  settings = 'Queue.add / addBulk, delay = T - now, removeOnComplete: true; one ioredis connection';
  single = await timed(SINGLE_LANES, async (k) => {
    let c = 0;
    for (const i of lane(n, SINGLE_LANES, k)) {
      await queue.add('notification', event(n, 's', i), opts());
      c++;
    }
    return c;
  });
  bulk = await timed(BULK_LANES, async (k) => {
    const ids = lane(n, BULK_LANES, k);
    let c = 0;
    for (let at = 0; at < ids.length; at += BULK) {
      const o = opts();
      const jobs = ids.slice(at, at + BULK).map(i => ({ name: 'notification', data: event(n, 'b', i), opts: o }));
      await queue.addBulk(jobs);
      c += jobs.length;
    }
    return c;
  });
  close = () => queue.close();
} else if (a.peer === 'pgboss') {
  const { default: PgBoss } = await import('pg-boss');
  const boss = new PgBoss({
    host: a['pg-host'],
    user: 'postgres',
    database: 'postgres',
    schema: a['pg-schema'],
    max: SINGLE_LANES,
    supervise: false,
    schedule: false
  });
  boss.on('error', e => console.error(`pg-boss: ${e.message}`));
  await boss.start();
  const startAfter = new Date(T);
  settings = `send / insert, startAfter = T; pg pool max ${SINGLE_LANES}, supervise and schedule off (producer only)`;
  single = await timed(SINGLE_LANES, async (k) => {
    let c = 0;
    for (const i of lane(n, SINGLE_LANES, k)) {
      await boss.send(a.queue, event(n, 's', i), { startAfter });
      c++;
    }
    return c;
  });
  const iso = startAfter.toISOString();
  bulk = await timed(BULK_LANES, async (k) => {
    const ids = lane(n, BULK_LANES, k);
    let c = 0;
    for (let at = 0; at < ids.length; at += BULK) {
      const jobs = ids.slice(at, at + BULK).map(i => ({ name: a.queue, data: event(n, 'b', i), startAfter: iso }));
      await boss.insert(jobs);
      c += jobs.length;
    }
    return c;
  });
  close = () => boss.stop({ graceful: false, wait: true });
} else {
  console.error('producer.mjs: --peer bullmq|pgboss');
  process.exit(2);
}

emit({
  event: 'ingested',
  single_events: single.done,
  single_s: single.seconds,
  single_eps: single.done / single.seconds,
  single_non_202: n - single.done,
  bulk_events: bulk.done,
  bulk_s: bulk.seconds,
  bulk_eps: bulk.done / bulk.seconds,
  bulk_non_202: n - bulk.done,
  transport_errors: single.failed + bulk.failed,
  ingested_ms: Date.now(),
  client_hwm_kb: rssKb(),
  settings
});
await close();
process.exit(0);
