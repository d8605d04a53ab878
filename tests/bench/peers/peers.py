#!/usr/bin/env python3
"""The orchestrator of tests/bench/peers/run (see its header): starts nginx, redis-server and
PostgreSQL in a temporary directory, runs trêve, BullMQ and pg-boss through the same hold-then-
release workload R times, checks what nginx received, and writes the results.

Python 3 standard library only. Every server and driver it starts is stopped on exit."""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
PG_BIN = '/usr/lib/postgresql/15/bin'
RECIPIENTS = 10000

PEERS = {
    'treve-1': 'trêve, batch_max = 1',
    'treve-100': 'trêve, batch_max = 100',
    'bullmq': 'BullMQ (Redis, appendfsync always)',
    'pgboss': 'pg-boss (PostgreSQL 15, fsync on)',
}

# Seconds from a peer's start to T in the first run, from rates seen on the 2-core machine
# (trêve ~10,000 ev/s over both phases, BullMQ ~3,000, pg-boss ~1,700 for single sends); later
# runs use twice the first run's ingest time + 10 s (this machine's disk varies by 2× and more). A run whose ingest ends after T is flagged
# and its release figures left out.
FIRST_HOLD = {
    'treve-1': lambda n: 15 + n / 4000,
    'treve-100': lambda n: 15 + n / 4000,
    'bullmq': lambda n: 15 + n / 1200,
    'pgboss': lambda n: 15 + n / 1000,
}

children = []  # (name, Popen) to stop on exit, in reverse order
postgres_running = []  # Postgres instances (pg_ctl runs them in the background)


def log(msg):
    print(msg, flush=True)


def die(msg):
    print(f'peers: {msg}', file=sys.stderr, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    die(f'{what} did not listen on 127.0.0.1:{port} within {timeout} s')


def spawn(name, argv, **kw):
    p = subprocess.Popen(argv, **kw)
    children.append((name, p))
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for i, (_, q) in enumerate(children):
        if q is p:
            del children[i]
            break


def stop_all():
    for name, p in reversed(children[:]):
        stop(p, timeout=10)
    for pg in postgres_running[:]:
        pg.stop()


# ---------------------------------------------------------------------------------------------
# Memory: VmRSS of single processes; the proportional set size (Pss) summed over a process tree
# (PostgreSQL: shared buffers are mapped by every backend, Pss counts them once).

def proc_status_kb(pid, key):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(root):
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


class Sampler:
    """Samples memory every 100 ms; groups: name -> ('rss', pid) or ('tree', root pid)."""

    def __init__(self):
        self.groups = {}
        self.max_kb = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def watch(self, name, kind, pid):
        with self.lock:
            self.groups[name] = (kind, pid)
            self.max_kb.setdefault(name, 0)

    def sample(self):
        with self.lock:
            groups = dict(self.groups)
        for name, (kind, pid) in groups.items():
            kb = proc_status_kb(pid, 'VmRSS:') if kind == 'rss' else sum(pss_kb(p) for p in tree(pid))
            with self.lock:
                self.max_kb[name] = max(self.max_kb.get(name, 0), kb)

    def loop(self):
        while self.running:
            self.sample()
            time.sleep(0.1)

    def finish(self):
        self.sample()
        self.running = False
        self.thread.join()
        return {k: v / 1024 for k, v in self.max_kb.items()}


# ---------------------------------------------------------------------------------------------
# Servers.

class Nginx:
    def __init__(self, root):
        self.dir = os.path.join(root, 'nginx')
        os.makedirs(os.path.join(self.dir, 'tmp'))
        self.port, back = free_port(), free_port()
        self.log = os.path.join(self.dir, 'sink.log')
        d = self.dir
        conf = f"""# The sink of tests/bench/peers/run: answers 200 to every POST and logs each body.
daemon off;
master_process on;
worker_processes 2;
user root root;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    log_format peers escape=json '{{"t":$msec,"uri":"$request_uri","status":$status,"body":"$request_body"}}';
    upstream back {{ server 127.0.0.1:{back}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
        client_body_buffer_size 2m;
        client_max_body_size 2m;
        location / {{
            access_log {self.log} peers;
            proxy_pass http://back;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{back} backlog=4096;
        keepalive_requests 10000000;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""
        with open(os.path.join(d, 'nginx.conf'), 'w') as f:
            f.write(conf)
        self.p = spawn('nginx', ['nginx', '-p', d, '-c', os.path.join(d, 'nginx.conf'),
                                 '-e', os.path.join(d, 'error.log')],
                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, 'stderr.log'), 'w'))
        wait_port(self.port, 'nginx')
        wait_port(back, 'nginx (back)')
        self.pid = self.p.pid

    def url(self, path):
        return f'http://127.0.0.1:{self.port}{path}'

    def size(self):
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def stop(self):
        stop(self.p, signal.SIGQUIT)


class Redis:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.p = spawn('redis', ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1',
                                 '--dir', self.dir, '--appendonly', 'yes', '--appendfsync', 'always',
                                 '--save', '', '--maxmemory-policy', 'noeviction',
                                 '--logfile', os.path.join(self.dir, 'redis.log')],
                       stdout=subprocess.DEVNULL)
        wait_port(self.port, 'redis-server')
        self.pid = self.p.pid

    def stop(self):
        stop(self.p)


class Postgres:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        self.data = os.path.join(self.dir, 'data')
        self.sock = os.path.join(self.dir, 'sock')
        os.makedirs(self.sock)
        shutil.chown(self.dir, 'postgres', 'postgres')
        shutil.chown(self.sock, 'postgres', 'postgres')
        run_as = ['runuser', '-u', 'postgres', '--']
        subprocess.run(run_as + [f'{PG_BIN}/initdb', '-D', self.data, '-U', 'postgres',
                                 '--auth=trust', '-E', 'UTF8', '--no-instructions'],
                       check=True, stdout=subprocess.DEVNULL)
        # Durable as shipped: fsync, synchronous_commit and full_page_writes stay on.
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{self.sock}' "
                f"-c max_connections=200 -c fsync=on -c synchronous_commit=on")
        subprocess.run(run_as + [f'{PG_BIN}/pg_ctl', '-D', self.data, '-l',
                                 os.path.join(self.dir, 'postgres.log'), '-o', opts, '-w', 'start'],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.data, 'postmaster.pid')) as f:
            self.pid = int(f.readline())
        self.run_as = run_as
        postgres_running.append(self)

    def stop(self):
        if self in postgres_running:
            postgres_running.remove(self)
        subprocess.run(self.run_as + [f'{PG_BIN}/pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# The sink's log: one JSON object per request (t, uri, status, body).

def count_deliveries(path, offset, cache):
    """Deliveries logged after `offset`, read incrementally (cache: {'pos', 'count'})."""
    pos = cache.setdefault('pos', offset)
    try:
        with open(path, 'rb') as f:
            f.seek(pos)
            data = f.read()
    except OSError:
        return 0
    cut = data.rfind(b'\n') + 1
    cache['count'] = cache.get('count', 0) + data[:cut].count(b'seq\\":')
    cache['pos'] = pos + cut
    return cache['count']


def analyse(path, offset, prefix, expected_per_recipient):
    first = last = None
    seen = {}
    requests = non_200 = deliveries = bad = 0
    with open(path, 'rb') as f:
        f.seek(offset)
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if not line['uri'].startswith(prefix):
                continue
            requests += 1
            if line['status'] != 200:
                non_200 += 1
            t = float(line['t'])
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            try:
                body = json.loads(line['body'])
            except ValueError:
                bad += 1
                continue
            for d in body if isinstance(body, list) else [body]:
                deliveries += 1
                seen.setdefault(d['recipient'], []).append(d['payload']['seq'])
    kept = dupes = missing = 0
    for r, seqs in seen.items():
        ok, top = True, -1
        for s in seqs:
            if s < top:
                ok = False
            top = max(top, s)
        kept += ok
        dupes += len(seqs) - len(set(seqs))
    for r in range(RECIPIENTS):
        got = set(seen.get(f'u-{r:05d}', []))
        missing += max(0, expected_per_recipient(r) - len(got))
    return {
        'requests': requests, 'non_200': non_200, 'deliveries': deliveries, 'unparsed': bad,
        'first_s': first, 'last_s': last, 'recipients': len(seen),
        'order_pct': 100.0 * kept / len(seen) if seen else 0.0, 'duplicates': dupes,
        'missing': missing,
    }


# ---------------------------------------------------------------------------------------------
# One peer, one run.

def read_json_line(p, what, timeout):
    """The next JSON line of a driver's stdout (other lines are echoed)."""
    end = time.time() + timeout
    while True:
        line = p.stdout.readline()
        if not line:
            die(f'{what} ended before answering (exit {p.wait()})')
        line = line.strip()
        if line.startswith('{'):
            return json.loads(line)
        if line:
            log(f'  {what}: {line}')
        if time.time() > end:
            die(f'{what}: no answer within {timeout} s')


def settle(root, keep):
    """Between peers: the previous peer's files removed and written back, so that its writeback
    does not slow the next one's fsyncs."""
    if not keep:
        for d in os.listdir(root):
            if d.startswith('r') and d[1:2].isdigit():
                shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    os.sync()
    end = time.time() + 60
    while time.time() < end:
        with open('/proc/meminfo') as f:
            dirty = sum(int(l.split()[1]) for l in f if l.startswith(('Dirty:', 'Writeback:')))
        if dirty < 16 * 1024:
            break
        time.sleep(0.5)
    time.sleep(1)


def run_peer(a, root, nginx, run, peer, hold):
    n = a.events
    prefix = f'/r{run}/{peer}/'
    sink = nginx.url(prefix + 'hook')
    offset = nginx.size()
    sampler = Sampler()
    sampler.watch('nginx', 'tree', nginx.pid)
    row = {'run': run, 'peer': peer, 'events': n, 'hold_s': hold}
    servers = []
    worker = producer = driver = None
    t_start = time.time()
    if peer.startswith('treve'):
        batch_max = int(peer.split('-')[1])
        driver = spawn('bench_peers_treve', [a.treve_driver, '--dir', os.path.join(root, f'r{run}-{peer}'),
                                             '--sink', sink, '--events', str(n), '--batch-max', str(batch_max),
                                             '--hold', str(hold)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = read_json_line(driver, peer, 60)
        sampler.watch('server', 'rss', ready['pid'])
        sampler.watch('client', 'rss', driver.pid)
        T_ms = ready['T_ms']
        row['settings'] = (f'POST /v1/events over 32 connections; events:batch 1000 over 4; '
                           f'webhook sink batch_max {batch_max}, max_in_flight 32')
        ingested = read_json_line(driver, peer, hold + 600)
    else:
        queue = f'peers-r{run}'
        if peer == 'bullmq':
            srv = Redis(root, f'r{run}-redis')
            conn = ['--redis-port', str(srv.port)]
        else:
            srv = Postgres(root, f'r{run}-pg')
            conn = ['--pg-host', srv.sock, '--pg-schema', f'pgboss_r{run}']
        wconn = conn + (['--batch-size', str(a.pgboss_batch)] if peer == 'pgboss' else [])
        servers.append(srv)
        sampler.watch('server', 'rss' if peer == 'bullmq' else 'tree', srv.pid)
        node = ['node']
        worker = spawn(f'{peer} worker', node + [os.path.join(HERE, 'worker.mjs'), '--peer', peer,
                                                 '--queue', queue, '--sink', sink] + wconn,
                       stdout=subprocess.PIPE, text=True, cwd=HERE)
        ready = read_json_line(worker, f'{peer} worker', 60)
        sampler.watch('worker', 'rss', worker.pid)
        T_ms = int(time.time() * 1000 + hold * 1000)
        producer = spawn(f'{peer} producer', node + [os.path.join(HERE, 'producer.mjs'), '--peer', peer,
                                                     '--events', str(n), '--T', str(T_ms),
                                                     '--queue', queue] + conn,
                         stdout=subprocess.PIPE, text=True, cwd=HERE)
        sampler.watch('client', 'rss', producer.pid)
        ingested = read_json_line(producer, f'{peer} producer', hold + 600)
        row['settings'] = f"producer: {ingested.pop('settings')}; worker: {ready['settings']}"
        producer.wait()
    for k in ('single_eps', 'single_s', 'single_non_202', 'bulk_eps', 'bulk_s', 'bulk_non_202',
              'transport_errors'):
        row[k] = ingested[k]
    row['ingest_s'] = ingested['ingested_ms'] / 1000 - t_start
    row['late_ms'] = max(0, ingested['ingested_ms'] - T_ms)
    row['T_ms'] = T_ms
    if row['late_ms']:
        log(f'  warning: ingest ended {row["late_ms"]} ms after T (raise --hold)')
    for k in ('single_statuses', 'bulk_statuses'):
        if k in ingested:
            row[k] = json.dumps(ingested[k], separators=(',', ':'))

    # The release: wait until nginx has 2N deliveries (or nothing more comes for 30 s).
    expected = 2 * n
    cache = {}
    last_count, last_change = -1, time.time()
    while True:
        count = count_deliveries(nginx.log, offset, cache)
        now = time.time()
        if count != last_count:
            last_count, last_change = count, now
        if count >= expected:
            break
        if now * 1000 > T_ms + 5000 and now - last_change > 30:
            log(f'  warning: {peer} stalled at {count} of {expected} deliveries')
            break
        time.sleep(0.2)
    time.sleep(1.0)  # late duplicates, and the last samples
    mem = sampler.finish()
    if driver:
        driver.stdin.close()
        stopped = read_json_line(driver, peer, 60)
        driver.wait()
        row['daemon_hwm_mb'] = stopped['hwm_kb'] / 1024
        row['daemon_error_lines'] = stopped['error_lines']
        row['daemon_warn_lines'] = stopped['warn_lines']
        children[:] = [c for c in children if c[1] is not driver]
    if worker:
        worker.send_signal(signal.SIGTERM)
        stopped = read_json_line(worker, f'{peer} worker', 30)
        row['worker_failed_posts'] = stopped['failed']
        stop(worker)
    if producer:
        stop(producer)
    for s in servers:
        s.stop()
    row['rss_server_mb'] = mem.get('server', 0)
    row['rss_worker_mb'] = mem.get('worker') if worker else None
    # What holds and delivers: trêve's daemon; the queue's server plus its worker.
    row['rss_system_mb'] = row['rss_server_mb'] + (row['rss_worker_mb'] or 0)
    row['rss_client_mb'] = mem.get('client', 0)
    row['rss_nginx_mb'] = mem.get('nginx', 0)

    def per_recipient(r):
        return 2 * ((n - r + RECIPIENTS - 1) // RECIPIENTS if r < n else 0)
    res = analyse(nginx.log, offset, prefix, per_recipient)
    row.update({
        'delivered': res['deliveries'], 'requests': res['requests'], 'sink_non_200': res['non_200'],
        'lag_ms': (res['first_s'] * 1000 - T_ms) if res['first_s'] else None,
        'drain_s': (res['last_s'] - T_ms / 1000) if res['last_s'] else None,
        'order_pct': res['order_pct'], 'duplicates': res['duplicates'], 'missing': res['missing'],
        'recipients': res['recipients'],
    })
    row['drain_per_s'] = res['deliveries'] / row['drain_s'] if row['drain_s'] else 0
    if row['late_ms']:  # released while still ingesting: no release figures
        row['lag_ms'] = row['drain_s'] = row['drain_per_s'] = row['order_pct'] = None
    row['complete'] = res['missing'] == 0 and res['deliveries'] >= expected
    # Each peer's log is analysed once: start the next from an empty file.
    os.truncate(nginx.log, 0)
    return row


# ---------------------------------------------------------------------------------------------
# Output.

COLUMNS = [
    ('single_eps', 'single ingest (ev/s)', '{:,.0f}', 'high'),
    ('bulk_eps', 'bulk ingest (ev/s)', '{:,.0f}', 'high'),
    ('lag_ms', 'release lag (ms)', '{:,.0f}', 'low'),
    ('drain_per_s', 'drain (deliveries/s)', '{:,.0f}', 'high'),
    ('order_pct', 'order kept (% recipients)', '{:.1f}', 'high'),
    ('rss_system_mb', 'server + worker peak RSS (MB)', '{:,.1f}', 'low'),
    ('rss_server_mb', 'server peak RSS (MB)', '{:,.1f}', 'low'),
    ('rss_worker_mb', 'worker peak RSS (MB)', '{:,.1f}', 'low'),
    ('rss_client_mb', 'producer / load generator peak RSS (MB)', '{:,.1f}', 'low'),
]


def fmt(col, v):
    if v is None:
        return '–'
    return next(c[2] for c in COLUMNS if c[0] == col).format(v)


def table(rows, cols, header=('peer',)):
    lines = ['| ' + ' | '.join(list(header) + [c[1] for c in cols]) + ' |',
             '|' + '---|' * (len(header) + len(cols))]
    for name, values in rows:
        lines.append('| ' + ' | '.join([name] + values) + ' |')
    return '\n'.join(lines)


def print_run(rows):
    body = []
    for r in rows:
        vals = [fmt(c[0], r.get(c[0])) for c in COLUMNS]
        flags = []
        if not r['complete']:
            flags.append(f"incomplete: {r['delivered']} delivered, {r['missing']} missing")
        if r['late_ms']:
            flags.append(f"ingest {r['late_ms']} ms late")
        if r['single_non_202'] or r['bulk_non_202'] or r['transport_errors']:
            flags.append(f"refused {r['single_non_202']}+{r['bulk_non_202']}, transport errors {r['transport_errors']}")
        if r['duplicates']:
            flags.append(f"{r['duplicates']} duplicates")
        body.append((PEERS[r['peer']] + (' (' + '; '.join(flags) + ')' if flags else ''), vals))
    log(table(body, COLUMNS))


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() or \
                subprocess.run(cmd, capture_output=True, text=True, timeout=10).stderr.strip()
        except OSError:
            return '?'
    v = {}
    def pkg(name):
        try:
            with open(os.path.join(HERE, 'node_modules', name, 'package.json')) as f:
                return json.load(f)['version']
        except OSError:
            return '?'
    v['treve'] = out(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'])
    v['bullmq'] = pkg('bullmq')
    v['ioredis'] = pkg('ioredis')
    v['pg-boss'] = pkg('pg-boss')
    v['node'] = out(['node', '--version'])
    v['redis'] = out(['redis-server', '--version']).split()[2].replace('v=', '') if out(['redis-server', '--version']) else '?'
    v['postgresql'] = out([f'{PG_BIN}/postgres', '--version']).split()[2]
    v['nginx'] = out(['nginx', '-v']).split('/')[-1]
    return v


def summarise(all_rows, peers):
    """Median and min–max per peer and column."""
    s = {}
    for p in peers:
        rows = [r for r in all_rows if r['peer'] == p]
        s[p] = {}
        for c in COLUMNS:
            vals = [r[c[0]] for r in rows if r.get(c[0]) is not None]
            if vals:
                s[p][c[0]] = (statistics.median(vals), min(vals), max(vals))
    return s


def write_outputs(a, all_rows, peers, started, ver):
    out = a.out
    os.makedirs(out, exist_ok=True)
    fields = []
    for r in all_rows:
        for k in r:
            if k not in fields:
                fields.append(k)
    with open(os.path.join(out, 'run.json'), 'w') as f:
        json.dump({'started': started.isoformat(), 'command': a.command, 'events': a.events,
                   'runs': a.runs, 'peers': peers, 'versions': ver}, f, indent=1)
        f.write('\n')
    with open(os.path.join(out, 'runs.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in all_rows:
            w.writerow(r)
    s = summarise(all_rows, peers)
    others = [p for p in peers if not p.startswith('treve')]
    # Medians with their spread.
    body = []
    for p in peers:
        body.append((PEERS[p], [
            (fmt(c[0], s[p][c[0]][0]) + (f' ({fmt(c[0], s[p][c[0]][1])}–{fmt(c[0], s[p][c[0]][2])})'
                                         if a.runs > 1 else '')) if c[0] in s[p] else '–'
            for c in COLUMNS]))
    ratios = []
    for t in [p for p in peers if p.startswith('treve')]:
        vals = []
        for c in COLUMNS:
            if c[0] not in s[t] or not others:
                vals.append('–')
                continue
            best = [s[o][c[0]][0] for o in others if c[0] in s[o]]
            best = (max(best) if c[3] == 'high' else min(best)) if best else None
            tv = s[t][c[0]][0]
            if c[0] == 'rss_worker_mb' or c[0] == 'rss_client_mb':
                vals.append('–')
            elif best:
                vals.append(f'{tv / best:.2f}×')
            else:
                vals.append('–')
        ratios.append((PEERS[t] + ' ÷ best peer', vals))
    settings = {}
    for r in all_rows:
        settings.setdefault(r['peer'], r.get('settings', ''))
    lag_note = ''
    md = []
    md.append('<!-- Written by tests/bench/peers/run; do not edit by hand. -->')
    md.append(f'**{started:%Y-%m-%d %H:%M} UTC**, `{a.command}`: N = {a.events:,} events held '
              f'then N more in bulk (2N = {2 * a.events:,} deliveries) to {RECIPIENTS:,} recipients, '
              f'all released at one instant T to one nginx sink; '
              + (f'{a.runs} runs, median (min–max)' if a.runs > 1 else 'one run') + '. Versions: '
              + ', '.join(f'{k} {v}' for k, v in ver.items()) + '.')
    md.append('')
    md.append(table(body, COLUMNS))
    md.append('')
    md.append('Ratios of trêve\'s median to the best peer\'s median (higher is better for rates '
              'and order, lower is better for lag and memory; the worker and producer columns '
              'have no trêve counterpart):')
    md.append('')
    md.append(table(ratios, COLUMNS, header=('',)))
    md.append('')
    md.append('Settings:')
    md.append('')
    for p in peers:
        md.append(f'- {PEERS[p]}: {settings.get(p, "")}.')
    md.append('')
    odd = []
    for r in all_rows:
        if not r['complete'] or r['late_ms'] or r['single_non_202'] or r['bulk_non_202'] or \
                r['transport_errors'] or r['duplicates'] or r.get('sink_non_200'):
            odd.append(f"run {r['run']} {PEERS[r['peer']]}: delivered {r['delivered']:,}, missing "
                       f"{r['missing']:,}, duplicates {r['duplicates']:,}, ingest late by "
                       f"{r['late_ms']} ms, refused {r['single_non_202']}+{r['bulk_non_202']}, "
                       f"transport errors {r['transport_errors']}")
    md.append('Anomalies: ' + ('; '.join(odd) if odd else 'none (every run complete, no refusal, '
                                                         'no duplicate, ingest done before T).'))
    md.append('')
    md.append('![single ingest, bulk ingest, drain and release lag per peer](peers/peers.png)')
    text = '\n'.join(md) + '\n'
    with open(os.path.join(out, 'results.md'), 'w') as f:
        f.write('# trêve beside BullMQ and pg-boss\n\n' + text.replace('(peers/peers.png)', '(peers.png)')
                + '\nRaw figures of every run: [runs.csv](runs.csv). How it is measured: '
                  '`tests/bench/peers/run` (header) and docs/BENCHMARKS.md.\n')
    chart(out, s, peers, a.events)
    if a.update_benchmarks:
        path = os.path.join(REPO, 'docs', 'BENCHMARKS.md')
        with open(path) as f:
            doc = f.read()
        begin, end = '<!-- peers:begin -->', '<!-- peers:end -->'
        if begin in doc and end in doc:
            doc = doc[:doc.index(begin) + len(begin)] + '\n' + text + doc[doc.index(end):]
            with open(path, 'w') as f:
                f.write(doc)
            log(f'updated {path}')
        else:
            log(f'warning: no {begin} … {end} markers in {path}; not updated')
    return s


def chart(out, s, peers, events):
    if not shutil.which('gnuplot'):
        log('warning: no gnuplot; no chart')
        return
    dat = os.path.join(out, 'peers.dat')
    with open(dat, 'w') as f:
        f.write('# peer single_eps bulk_eps drain_per_s lag_ms\n')
        for p in peers:
            v = [s[p].get(k, (0,))[0] or 0 for k in ('single_eps', 'bulk_eps', 'drain_per_s', 'lag_ms')]
            f.write('"{}" {:.1f} {:.1f} {:.1f} {:.1f}\n'.format(PEERS[p].split(' (')[0], *v))
    gp = f"""
set terminal pngcairo size 1200,520 font "DejaVu Sans,11" noenhanced
set output '{os.path.join(out, 'peers.png')}'
set multiplot layout 1,2 title "Hold then release: {events:,} events one by one and {events:,} in bulk, all due at T; one 2-core machine, median of runs"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key top right
set ylabel "per second (log scale)"
set xtics nomirror rotate by -20
set title "Throughput: higher is better"
plot '{dat}' using 2:xtic(1) title "single ingest (events/s)", '' using 3 title "bulk ingest (events/s)", '' using 4 title "drain (deliveries/s)"
set title "Release lag after T: lower is better"
set ylabel "ms (log scale)"
set key off
plot '{dat}' using 5:xtic(1) title "release lag (ms)" lc rgb "#c0504d", '' using ($0):($5*1.15):(sprintf("%.0f ms", $5)) with labels notitle
unset multiplot
"""
    gpf = os.path.join(out, 'peers.gp')
    with open(gpf, 'w') as f:
        f.write(gp)
    r = subprocess.run(['gnuplot', gpf], capture_output=True, text=True)
    if r.returncode != 0:
        log(f'warning: gnuplot failed: {r.stderr.strip()}')
    os.remove(gpf)
    os.remove(dat)


# ---------------------------------------------------------------------------------------------

def render(a):
    with open(os.path.join(a.out, 'run.json')) as f:
        meta = json.load(f)
    rows = []
    with open(os.path.join(a.out, 'runs.csv')) as f:
        for r in csv.DictReader(f):
            for k, v in r.items():
                if v == '':
                    r[k] = None
                elif v in ('True', 'False'):
                    r[k] = v == 'True'
                else:
                    try:
                        r[k] = int(v)
                    except ValueError:
                        try:
                            r[k] = float(v)
                        except ValueError:
                            pass
            if r['peer'].startswith('treve'):
                r['rss_worker_mb'] = None
            r['rss_system_mb'] = r['rss_server_mb'] + (r.get('rss_worker_mb') or 0)
            rows.append(r)
    a.events, a.runs, a.command = meta['events'], meta['runs'], meta['command']
    write_outputs(a, rows, meta['peers'], datetime.datetime.fromisoformat(meta['started']),
                  meta['versions'])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--events', type=int, default=100000)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--hold', type=float, default=0,
                    help='seconds from a peer\'s start to T in its first run (default: FIRST_HOLD); '
                         'later runs use twice the first run\'s ingest time + 10 s')
    ap.add_argument('--peers', default='treve-1,treve-100,bullmq,pgboss')
    ap.add_argument('--treve-driver', required=True)
    ap.add_argument('--out', default=os.path.join(REPO, 'docs', 'peers'))
    ap.add_argument('--no-docs', dest='update_benchmarks', action='store_false')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('--command', default='tests/bench/peers/run')
    ap.add_argument('--pgboss-batch', type=int, default=1000,
                    help='batchSize of each of pg-boss\'s 8 work() loops')
    ap.add_argument('--render', action='store_true',
                    help='only write the outputs again from OUT/runs.csv and OUT/run.json')
    a = ap.parse_args()
    if a.render:
        return render(a)
    if not a.update_benchmarks and a.out == ap.get_default('out'):
        # --no-docs leaves docs/ alone: the table, figures and chart go to a directory of
        # their own, named at the end.
        a.out = tempfile.mkdtemp(prefix='treve-peers-out-')
    peers = a.peers.split(',')
    for p in peers:
        if p not in PEERS:
            die(f'unknown peer {p}; known: {", ".join(PEERS)}')
    if a.events < 1 or a.runs < 1:
        die('--events and --runs must be positive')
    started = datetime.datetime.now(datetime.timezone.utc)
    root = tempfile.mkdtemp(prefix='treve-peers-', dir='/tmp')
    os.chmod(root, 0o755)  # postgres (its own user) works in a subdirectory
    log(f'working directory {root}')

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    all_rows = []
    try:
        ver = versions()
        log('versions: ' + ', '.join(f'{k} {v}' for k, v in ver.items()))
        nginx = Nginx(root)
        first_ingest = {}
        for run in range(1, a.runs + 1):
            rows = []
            for peer in peers:
                if peer in first_ingest:
                    hold = round(2 * first_ingest[peer] + 10)
                else:
                    hold = a.hold or FIRST_HOLD[peer](a.events)
                settle(root, a.keep)
                log(f'run {run}/{a.runs}: {PEERS[peer]}, T in {hold:.0f} s')
                row = run_peer(a, root, nginx, run, peer, hold)
                first_ingest.setdefault(peer, row['ingest_s'])
                log(f"  single {row['single_eps']:,.0f} ev/s, bulk {row['bulk_eps']:,.0f} ev/s, "
                    f"lag {fmt('lag_ms', row['lag_ms'])} ms, drain {fmt('drain_per_s', row['drain_per_s'])}/s, "
                    f"order {fmt('order_pct', row['order_pct'])}%, delivered {row['delivered']:,}/{2 * a.events:,}, "
                    f"ingest {row['ingest_s']:.1f} s of {hold:.0f} s")
                rows.append(row)
                all_rows.append(row)
            log(f'\nrun {run}:')
            print_run(rows)
            log('')
        row_nginx = max(r['rss_nginx_mb'] for r in all_rows)
        log(f'nginx (the sink, both processes): peak {row_nginx:.1f} MB')
        s = write_outputs(a, all_rows, peers, started, ver)
        if a.runs > 1:
            log('\nmedian (min–max) over the runs:')
            log(table([(PEERS[p], [
                (fmt(c[0], s[p][c[0]][0]) + f' ({fmt(c[0], s[p][c[0]][1])}–{fmt(c[0], s[p][c[0]][2])})')
                if c[0] in s[p] else '–' for c in COLUMNS]) for p in peers], COLUMNS))
        log(f'wrote {a.out}/results.md, {a.out}/runs.csv, {a.out}/peers.png')
    except KeyboardInterrupt:
        log('interrupted')
        return 130
    finally:
        stop_all()
        if a.keep:
            log(f'kept {root}')
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if all(r['complete'] for r in all_rows) else 1


if __name__ == '__main__':
    sys.exit(main())
