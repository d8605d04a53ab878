// The worker side of tests/bench/peers/run for BullMQ and pg-boss: takes the jobs once they are
// due and POSTs each to the sink (nginx) as JSON over keep-alive connections (32 sockets).
//
//   node worker.mjs --peer bullmq --queue NAME --redis-port P --sink URL
//   node worker.mjs --peer pgboss --queue NAME --pg-host SOCKETDIR --pg-schema SCHEMA --sink URL
//        [--batch-size B]   (default 1000)
//
// Prints {"event":"ready","settings":…} once it waits for jobs; on SIGTERM prints
// {"event":"stopped","posted":…,"failed":…,"hwm_kb":…} and exits.
import { args, emit, poster } from './workload.mjs';

const a = args();
const SOCKETS = 32;
const post = poster(a.sink, SOCKETS);
let posted = 0;
let failed = 0;

async function deliver (data) {
  try {
    await post(JSON.stringify(data));
    posted++;
  } catch (e) {
    failed++;
    throw e;
  }
}

let stop;
let settings;
if (a.peer === 'bullmq') {
  const { Worker } = await import('bullmq');
  const CONCURRENCY = 32;
  const worker = new Worker(a.queue, job => deliver(job.data), {
    connection: { host: '127.0.0.1', port: Number(a['redis-port']), maxRetriesPerRequest: null },
    concurrency: CONCURRENCY
  });
  worker.on('error', e => console.error(`bullmq worker: ${e.message}`));
  await worker.waitUntilReady();
  settings = `Worker concurrency ${CONCURRENCY}, http.Agent keepAlive maxSockets ${SOCKETS}`;
  stop = () => worker.close(true);
} else if (a.peer === 'pgboss') {
  const { default: PgBoss } = await import('pg-boss');
  const WORKERS = 8;
  const BATCH = Number(a['batch-size'] || 1000);
  const POLL = 0.5; // seconds: pg-boss's smallest polling interval
  const boss = new PgBoss({ host: a['pg-host'], user: 'postgres', database: 'postgres', schema: a['pg-schema'], max: WORKERS + 2 });
  boss.on('error', e => console.error(`pg-boss: ${e.message}`));
  await boss.start();
  if (!(await boss.getQueue(a.queue))) await boss.createQueue(a.queue);
  for (let w = 0; w < WORKERS; w++) {
    await boss.work(a.queue, { batchSize: BATCH, pollingIntervalSeconds: POLL },
      jobs => Promise.all(jobs.map(j => deliver(j.data))));
  }
  settings = `${WORKERS} × work() with batchSize ${BATCH} (each batch POSTed concurrently), pollingIntervalSeconds ${POLL}, http.Agent keepAlive maxSockets ${SOCKETS}, pg pool max ${WORKERS + 2}`;
  stop = () => boss.stop({ graceful: false, wait: false });
} else {
  console.error('worker.mjs: --peer bullmq|pgboss');
  process.exit(2);
}

emit({ event: 'ready', pid: process.pid, settings });

process.on('SIGTERM', async () => {
  emit({ event: 'stopped', posted, failed, hwm_kb: process.resourceUsage().maxRSS });
  try { await Promise.race([stop(), new Promise(resolve => setTimeout(resolve, 2000))]); } catch {}
  process.exit(0);
});
