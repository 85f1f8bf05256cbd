// `npm run bench`: the portal's sign-in capacity on this machine, in one bounded run (about a minute).
//
//   1. a throwaway PostgreSQL cluster (test/support/postgres.ts), or BENCH_DATABASE_URL / DATABASE_URL;
//   2. accounts made by the createAccount flow (production argon2id parameters), their temporary
//      password read from the mail, their first connection completed over HTTP;
//   3. the server as operators run it: `node bin/sesame.js serve` in a child process, its context on
//      its defaults (production hashing), development mailbox (no SMTP, not production), logs at warn;
//   4. raw argon2id verifications/s through @node-rs/argon2 at 1, cores and 2 × cores at once;
//   5. sign-ins — POST /connexion with a valid CSRF token and the right password, 2 × cores
//      connections — in slices alternating with raw verifications at the server's hash concurrency,
//      so that the background load of a shared machine weighs on both sides of the ratio alike;
//   6. GET /compte with a session cookie, same concurrency;
//   7. the server's RSS (/proc/PID/status VmRSS) fresh, idle, and at its peak under load; a static
//      file's latency during the sign-ins (the thread pool is argon2's); CPU split per party.
//
// The load generator runs in this process: its own CPU use is measured and printed next to the
// server's, so one can check it is small (for sign-ins, a fraction of a millisecond per request).
//
// Settings: BENCH_DURATION_MS (measured time of each HTTP phase, default 10000), BENCH_DATABASE_URL or
// DATABASE_URL (an existing PostgreSQL database; accounts named bench-… are left in it),
// BENCH_SERVER_NODE_ARGS (node flags for the server, e.g. --cpu-prof), SESAME_HASH_CONCURRENCY,
// SESAME_HASH_QUEUE and UV_THREADPOOL_SIZE (passed to the server, and used for the raw measure).

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createContext } from '../src/context.ts';
import { createAccount } from '../src/flows/accounts.ts';
import type { MailTransport, OutgoingMail } from '../src/notify/transport.ts';
import { OWASP_PARAMS } from '../src/security/hasher.ts';
import { CLI_ORIGIN } from '../src/store/audit.ts';
import { WebClient } from '../test/support/http.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { measureVerifyRate, mergeRates, type VerifyRate } from './argon2.ts';
import { cookieHeader, cookiesFrom, csrfFrom, mergePhases, percentile, probe, requester, runPhase, updateJar, type PhaseResult } from './load.ts';
import { cpuSnapshot, cpuSplit, rssOf, type CpuSnapshot, type CpuSplit } from './proc.ts';
import { startServerChild, type ServerChild } from './server.ts';

const GOAL = 0.95;
const DURATION_MS = positive(process.env.BENCH_DURATION_MS, 10_000);
const LOGIN_WARMUP_MS = 2_000;
const PAGE_WARMUP_MS = 1_000;
const RAW_MS = 2_000;
/** The sign-in phase is cut in this many slices, each after a raw argon2id slice of the same length. */
const SLICES = 5;
/** A static file: served through fs, i.e. libuv's thread pool, the one argon2 runs on. */
const ASSET = '/assets/style.css';
/** Above this much CPU taken by other programs or the hypervisor during the sign-ins, the report warns that the machine is shared. */
const BUSY_MACHINE_CORES = 0.15;
const busyElsewhere = (c: CpuSplit) => (c.others ?? 0) + (c.steal ?? 0);
const PASSWORD = 'Vq8#trombone-Lilas42';
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) SesameBench/1.0';
const SESSION_COOKIE = '__Host-sesame';
const CSRF_COOKIE = '__Host-csrf';

function positive(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw && Number.isInteger(n) && n > 0 ? n : fallback;
}

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  const workers = 2 * cores;
  // The server reads these through loadConfig: so does the benchmark, to use the very same values.
  const serverConfig = loadConfig({
    SESAME_HASH_CONCURRENCY: process.env.SESAME_HASH_CONCURRENCY,
    SESAME_HASH_QUEUE: process.env.SESAME_HASH_QUEUE,
  });
  const hashConcurrency = serverConfig.hashConcurrency;
  const started = performance.now();
  const loadAverageAtStart = os.loadavg().map((x) => round(x, 2));

  const external = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL;
  say(external ? 'using the PostgreSQL database of BENCH_DATABASE_URL / DATABASE_URL' : 'starting a throwaway PostgreSQL cluster');
  const pg = external ? { url: external, stop: async () => {} } : await startPostgres();
  let server: ServerChild | undefined;
  try {
    const run = Date.now().toString(36);
    const loginAccounts = Array.from({ length: workers }, (_, i) => `bench-${run}-login-${i}`);
    const pageAccounts = Array.from({ length: workers }, (_, i) => `bench-${run}-page-${i}`);

    say(`creating ${loginAccounts.length + pageAccounts.length} accounts (createAccount flow, production argon2id parameters)`);
    const temporary = await createAccounts(pg.url, [...loginAccounts, ...pageAccounts]);

    say('starting the server (node bin/sesame.js serve)');
    server = await startServerChild(pg.url);
    const srv = server;
    const rssFresh = rssOf(srv.pid);

    say('first connections over HTTP');
    // The browser each account completed its first connection in: its cookies (CSRF secret, device
    // cookie…) are kept, as a workstation keeps them from one day to the next.
    const jars = new Map<string, Map<string, string>>();
    await inBatches([...loginAccounts, ...pageAccounts], hashConcurrency, async (login) => {
      const client = await firstConnection(srv.url, login, temporary.get(login)!);
      jars.set(login, new Map(Object.entries(client.cookies())));
    });
    const pageCookies = pageAccounts.map((login) => cookieHeader(jars.get(login)!));

    const http = requester(srv.url, workers);
    // Each sign-in worker is that browser coming back once its session has ended: no session cookie,
    // the sign-in page opened once for its CSRF token, then one sign-in after another.
    const browsers = await Promise.all(loginAccounts.map(async (login) => {
      const jar = jars.get(login)!;
      jar.delete(SESSION_COOKIE);
      const page = await http.request('GET', '/connexion', { cookie: cookieHeader(jar), 'user-agent': USER_AGENT, 'accept-language': 'fr-FR' }, undefined, true);
      updateJar(jar, page.setCookie);
      if (page.status !== 200 || !jar.has(CSRF_COOKIE)) throw new Error(`GET /connexion: ${page.status}, no ${CSRF_COOKIE} cookie`);
      const body = new URLSearchParams({ _csrf: csrfFrom(page.body), identifiant: login, mot_de_passe: PASSWORD }).toString();
      return {
        jar,
        body,
        headers: () => ({
          'content-type': 'application/x-www-form-urlencoded',
          cookie: cookieHeader(jar),
          origin: srv.url,
          'user-agent': USER_AGENT,
          'accept-language': 'fr-FR',
        }),
      };
    }));
    // The page workers check their session once before the clock starts.
    for (const cookie of pageCookies) {
      const res = await http.request('GET', '/compte', { cookie, 'user-agent': USER_AGENT });
      if (res.status !== 200) throw new Error(`GET /compte with a session: ${res.status}`);
    }

    await sleep(1_000);
    const rssIdle = rssOf(srv.pid);
    const assets = requester(srv.url, 1);
    const assetIdle = probe(assets, ASSET, 50);
    await sleep(1_000);
    const assetIdleLatencies = await assetIdle.stop();

    say(`raw argon2id verifications (m=${OWASP_PARAMS.memoryCost} KiB, t=${OWASP_PARAMS.timeCost}, p=${OWASP_PARAMS.parallelism}), ${RAW_MS / 1000} s at each concurrency`);
    // More at once than this process's thread pool has threads would only queue.
    const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    const rawLevels = [...new Set([1, cores, 2 * cores])].filter((c) => c !== hashConcurrency && c <= threads).sort((a, b) => a - b);
    const rawOthers: VerifyRate[] = [];
    for (const c of rawLevels) rawOthers.push(await measureVerifyRate(c, RAW_MS));

    // The machine may be shared (other builds, tests): raw and sign-in slices alternate, so a change
    // in the background load hits both measures alike instead of skewing their ratio.
    const sliceMs = DURATION_MS / SLICES;
    say(`sign-ins: ${workers} connections, ${LOGIN_WARMUP_MS / 1000} s warm-up, then ${SLICES} × (${sliceMs / 1000} s raw argon2id at concurrency ${hashConcurrency} | ${sliceMs / 1000} s sign-ins) + ${sliceMs / 1000} s raw`);
    let rssPeak = 0;
    const signIn = (durationMs: number, warmupMs = 0) => runPhase({
      workers,
      warmupMs,
      durationMs,
      drain: true,
      sampleMs: 100,
      onSample: () => {
        rssPeak = Math.max(rssPeak, rssOf(srv.pid) ?? 0);
      },
      step: async (w) => {
        const b = browsers[w]!;
        const res = await http.request('POST', '/connexion', b.headers(), b.body);
        const signedIn = res.status === 303 && res.location === '/compte' && cookiesFrom(res.setCookie)[SESSION_COOKIE];
        // Long-lived cookies are kept; the new session is dropped (the next sign-in is after it ended).
        updateJar(b.jar, res.setCookie);
        b.jar.delete(SESSION_COOKIE);
        return signedIn ? true : `${res.status}${res.location ? ` → ${res.location}` : ''}`;
      },
    });
    await signIn(LOGIN_WARMUP_MS);
    const rawSlices: VerifyRate[] = [];
    const loginSlices: PhaseResult[] = [];
    const loginCpu: [CpuSnapshot, CpuSnapshot][] = [];
    const assetBusy = probe(assets, ASSET, 200);
    for (let i = 0; i < SLICES; i++) {
      rawSlices.push(await measureVerifyRate(hashConcurrency, sliceMs));
      const before = cpuSnapshot(srv.pid, 'start');
      loginSlices.push(await signIn(sliceMs));
      loginCpu.push([before, cpuSnapshot(srv.pid, 'end')]);
    }
    rawSlices.push(await measureVerifyRate(hashConcurrency, sliceMs));
    const assetBusyLatencies = await assetBusy.stop();
    assets.close();
    const login = mergePhases(loginSlices);
    const rawAtServer = mergeRates(rawSlices);
    const sliceRatios = loginSlices.map((l, i) => l.rate / ((rawSlices[i]!.rate + rawSlices[i + 1]!.rate) / 2));

    say(`account pages: ${workers} connections, ${PAGE_WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s`);
    const cookies = pageCookies;
    let rssPagePeak = 0;
    let pageFirst: CpuSnapshot | undefined;
    const pageStart = setTimeout(() => (pageFirst = cpuSnapshot(srv.pid, 'start')), PAGE_WARMUP_MS);
    const page = await runPhase({
      workers,
      warmupMs: PAGE_WARMUP_MS,
      durationMs: DURATION_MS,
      sampleMs: 100,
      onSample: () => {
        rssPagePeak = Math.max(rssPagePeak, rssOf(srv.pid) ?? 0);
      },
      step: async (w) => {
        const res = await http.request('GET', '/compte', { cookie: cookies[w % cookies.length]!, 'user-agent': USER_AGENT, 'accept-language': 'fr-FR' });
        return res.status === 200 ? true : String(res.status);
      },
    });
    clearTimeout(pageStart);
    const pageEnd = cpuSnapshot(srv.pid, 'end');
    const pageCpu = cpuSplit([[pageFirst ?? pageEnd, pageEnd]]);
    http.close();
    // Memory the load left behind (argon2's 19 MiB blocks may stay in the allocator's arenas).
    await sleep(1_000);
    const rssAfter = rssOf(srv.pid);

    const serverLog = srv.output();
    await srv.stop();
    server = undefined;

    const rawAll = [...rawOthers, rawAtServer].sort((a, b) => a.concurrency - b.concurrency);
    const best = rawAll.reduce((a, b) => (b.rate > a.rate ? b : a));
    const ratio = login.rate / rawAtServer.rate;
    const loginCpuSplit = cpuSplit(loginCpu);
    const report = {
      at: new Date().toISOString(),
      machine: {
        cores,
        cpu: os.cpus()[0]?.model ?? 'unknown',
        node: process.version,
        loadAverageAtStart,
        loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)),
      },
      settings: {
        argon2: OWASP_PARAMS,
        hashConcurrency,
        hashQueue: serverConfig.hashQueue,
        serverThreadpool: Number(process.env.UV_THREADPOOL_SIZE) || 4,
        connections: workers,
        phaseMs: DURATION_MS,
        slices: SLICES,
        database: external ? 'external' : 'throwaway cluster',
        client: 'node:http keep-alive agent, one connection per worker, in the benchmark process',
      },
      rawVerify: {
        byConcurrency: rawAll.map((r) => ({ concurrency: r.concurrency, perSecond: round(r.rate), meanMs: round(r.meanMs) })),
        reference: round(rawAtServer.rate),
        referenceSlices: rawSlices.map((r) => round(r.rate)),
        best: { concurrency: best.concurrency, perSecond: round(best.rate) },
      },
      login: { ...phaseJson(login), slices: loginSlices.map((l) => round(l.rate)), cpuCores: cpuJson(loginCpuSplit, login.rate), cpuBoundCeiling: round(cpuCeiling(loginCpuSplit) ?? NaN, 3) },
      ratio: {
        value: round(ratio, 3),
        reliable: busyElsewhere(loginCpuSplit) <= BUSY_MACHINE_CORES,
        sliceMin: round(Math.min(...sliceRatios), 3),
        sliceMax: round(Math.max(...sliceRatios), 3),
        vsBest: round(login.rate / best.rate, 3),
        goal: GOAL,
        met: ratio >= GOAL,
      },
      accountPage: { ...phaseJson(page), cpuCores: cpuJson(pageCpu, page.rate) },
      staticAsset: {
        path: ASSET,
        idleP50Ms: round(percentile(assetIdleLatencies, 0.5)),
        idleMaxMs: round(assetIdleLatencies.at(-1) ?? NaN),
        duringSignInsP50Ms: round(percentile(assetBusyLatencies, 0.5)),
        duringSignInsP99Ms: round(percentile(assetBusyLatencies, 0.99)),
        duringSignInsMaxMs: round(assetBusyLatencies.at(-1) ?? NaN),
      },
      memory: {
        rssFreshMiB: mib(rssFresh),
        rssIdleMiB: mib(rssIdle),
        rssPeakLoginMiB: mib(rssPeak || undefined),
        rssPeakPageMiB: mib(rssPagePeak || undefined),
        rssAfterLoadMiB: mib(rssAfter),
      },
      durationS: round((performance.now() - started) / 1000, 1),
    };
    writeFileSync(new URL('./last-run.json', import.meta.url), JSON.stringify(report, null, 2) + '\n');
    printReport(report, login, page, loginCpuSplit, pageCpu);
    if (login.errors + page.errors > 0 && serverLog.trim()) {
      process.stdout.write(`\nServer output (tail):\n${serverLog.trim().split('\n').slice(-10).join('\n')}\n`);
    }
  } finally {
    await server?.stop();
    await pg.stop();
  }
}

// ---------------------------------------------------------------------------

/** createAccount for each login; its temporary password is read from the mail, as a person would. */
async function createAccounts(databaseUrl: string, logins: string[]): Promise<Map<string, string>> {
  const mails: OutgoingMail[] = [];
  const transport: MailTransport = { send: async (m) => void mails.push(m), close: async () => {} };
  const config = loadConfig({ DATABASE_URL: databaseUrl, SESAME_LOG_LEVEL: 'warn' });
  // Default hash parameters (production): the server verifies what this context hashed.
  const ctx = await createContext(config, { transport, log: pino({ level: 'warn' }) });
  try {
    await inBatches(logins, 4, async (login) => {
      const result = await createAccount(ctx, { login, email: `${login}@bench.example.org`, name: 'Camille Banc' }, CLI_ORIGIN);
      if (!result.ok) throw new Error(`createAccount ${login}: ${JSON.stringify(result.errors)}`);
    });
    await ctx.outbox.deliverDue();
  } finally {
    await ctx.close();
  }
  const temporary = new Map<string, string>();
  for (const login of logins) {
    const mail = mails.find((m) => m.to === `${login}@bench.example.org` && /provisoire/.test(m.subject));
    const password = mail && /Mot de passe provisoire : (\S+)/.exec(mail.text)?.[1];
    if (!password) throw new Error(`no temporary password mailed to ${login}`);
    temporary.set(login, password);
  }
  return temporary;
}

/** Sign-in with the temporary password, then « Première connexion »: the account is ready for use. */
async function firstConnection(baseUrl: string, login: string, temporary: string): Promise<WebClient> {
  const client = new WebClient(baseUrl, { userAgent: USER_AGENT });
  const signIn = await client.submit('/connexion', { identifiant: login, mot_de_passe: temporary });
  if (signIn.location !== '/premiere-connexion') throw new Error(`first sign-in of ${login}: ${signIn.status} ${signIn.location}`);
  const done = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: PASSWORD, confirmation: PASSWORD });
  if (done.status !== 200 || !client.cookie(SESSION_COOKIE)) throw new Error(`first connection of ${login}: ${done.status}`);
  return client;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);
const mib = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / 1024 / 1024));

function phaseJson(p: PhaseResult) {
  return {
    perSecond: round(p.rate),
    ok: p.ok,
    errors: p.errors,
    errorKinds: p.errorKinds,
    p50Ms: round(p.p50Ms),
    p99Ms: round(p.p99Ms),
    meanMs: round(p.meanMs),
    maxMs: round(p.maxMs),
  };
}

function cpuJson(c: CpuSplit, rate: number) {
  const r = (x: number | undefined) => (x === undefined ? null : round(x, 2));
  const ms = (x: number | undefined) => (x === undefined || !(rate > 0) ? null : round((x * 1000) / rate, 2));
  return {
    serverEventLoop: r(c.serverEventLoop),
    serverOtherThreads: r(c.serverOtherThreads),
    postgres: r(c.postgres),
    loadgen: r(c.loadgen),
    others: r(c.others),
    steal: r(c.steal),
    msPerRequest: {
      serverEventLoop: ms(c.serverEventLoop),
      serverOtherThreads: ms(c.serverOtherThreads),
      postgres: ms(c.postgres),
      loadgen: ms(c.loadgen),
    },
  };
}

/**
 * What the ratio can reach when the CPU is the limit: the share of the sign-in's CPU time that is
 * argon2 (the server's threads other than the event loop) — every other CPU-millisecond spent on a
 * sign-in (event loop, PostgreSQL, the client) is taken from the hashes on a machine this size.
 */
function cpuCeiling(c: CpuSplit): number | undefined {
  if (c.serverOtherThreads === undefined || c.serverEventLoop === undefined || c.postgres === undefined) return undefined;
  return c.serverOtherThreads / (c.serverOtherThreads + c.serverEventLoop + c.postgres + c.loadgen);
}

type Report = {
  machine: { cores: number; cpu: string; loadAverageAtStart: (number | null)[]; loadAverageAtEnd: (number | null)[] };
  settings: { hashConcurrency: number; serverThreadpool: number; connections: number; phaseMs: number; slices: number; database: string };
  rawVerify: { byConcurrency: { concurrency: number; perSecond: number | null; meanMs: number | null }[]; reference: number | null; referenceSlices: (number | null)[]; best: { concurrency: number; perSecond: number | null } };
  login: { slices: (number | null)[] };
  ratio: { value: number | null; sliceMin: number | null; sliceMax: number | null; vsBest: number | null; met: boolean };
  staticAsset: { idleP50Ms: number | null; duringSignInsP50Ms: number | null; duringSignInsP99Ms: number | null; duringSignInsMaxMs: number | null };
  memory: { rssFreshMiB: number | null; rssIdleMiB: number | null; rssPeakLoginMiB: number | null; rssPeakPageMiB: number | null; rssAfterLoadMiB: number | null };
  durationS: number | null;
};

function printReport(r: Report, login: PhaseResult, page: PhaseResult, loginCpu: CpuSplit, pageCpu: CpuSplit): void {
  const out: string[] = [];
  const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
  const errs = (p: PhaseResult) => (p.errors === 0 ? '0' : `${p.errors} (${Object.entries(p.errorKinds).map(([k, v]) => `${k}×${v}`).join(', ')})`);
  const cpu = (c: CpuSplit) =>
    `server event loop ${f(c.serverEventLoop, 2)} · server other threads ${f(c.serverOtherThreads, 2)} · postgres ${f(c.postgres, 2)} · load generator ${f(c.loadgen, 2)} · rest of machine ${f(c.others, 2)}${c.steal ? ` · steal ${f(c.steal, 2)}` : ''}`;
  const row = (label: string, rate: string, p50: string, p99: string, ok: string, errors: string) =>
    `  ${label.padEnd(34)}${rate.padStart(9)}${p50.padStart(10)}${p99.padStart(10)}${ok.padStart(8)}   ${errors}`;

  out.push('');
  out.push(`Sésame benchmark — ${r.machine.cores} cores (${r.machine.cpu}) · argon2id m=${OWASP_PARAMS.memoryCost} KiB t=${OWASP_PARAMS.timeCost} p=${OWASP_PARAMS.parallelism} · hash concurrency ${r.settings.hashConcurrency} · thread pool ${r.settings.serverThreadpool} · ${r.settings.connections} connections · ${r.settings.database}`);
  out.push('');
  out.push(row('', 'per s', 'p50 ms', 'p99 ms', 'ok', 'errors'));
  for (const v of r.rawVerify.byConcurrency) {
    const mine = v.concurrency === r.settings.hashConcurrency;
    out.push(row(`raw argon2id verify, ${v.concurrency} at once${mine ? ' *' : ''}`, f(v.perSecond), '', '', '', mine ? `* server's concurrency, reference (slices ${r.rawVerify.referenceSlices.map((x) => f(x, 0)).join(' ')})` : ''));
  }
  out.push(row('POST /connexion (sign-in)', f(login.rate), f(login.p50Ms), f(login.p99Ms), String(login.ok), `${errs(login)}   (slices ${r.login.slices.map((x) => f(x, 0)).join(' ')})`));
  out.push(row('GET /compte (signed in)', f(page.rate), f(page.p50Ms), f(page.p99Ms), String(page.ok), errs(page)));
  out.push('');
  out.push(`  Sign-ins ÷ raw verify: ${f(r.ratio.value, 3)}  — goal ≥ ${GOAL}: ${r.ratio.met ? 'MET' : 'NOT MET'}  (per slice ${f(r.ratio.sliceMin, 2)}…${f(r.ratio.sliceMax, 2)}; against the best raw rate, ${r.rawVerify.best.concurrency} at once: ${f(r.ratio.vsBest, 3)})`);
  if (busyElsewhere(loginCpu) > BUSY_MACHINE_CORES) {
    out.push(`  ⚠ Other programs (${f(loginCpu.others, 2)}) and the hypervisor (steal ${f(loginCpu.steal, 2)}) took CPU of the ${r.machine.cores} cores during the sign-in slices: the machine is shared, the figures are not this server's capacity (rerun when it is quiet).`);
  }
  out.push(`  Server RSS: ${f(r.memory.rssFreshMiB)} MiB fresh · ${f(r.memory.rssIdleMiB)} MiB idle · ${f(r.memory.rssPeakLoginMiB)} MiB peak during sign-ins · ${f(r.memory.rssPeakPageMiB)} MiB peak during pages · ${f(r.memory.rssAfterLoadMiB)} MiB idle after load`);
  out.push(`  ${ASSET}: p50 ${f(r.staticAsset.idleP50Ms)} ms idle · during sign-ins p50 ${f(r.staticAsset.duringSignInsP50Ms)} ms, p99 ${f(r.staticAsset.duringSignInsP99Ms)} ms, max ${f(r.staticAsset.duringSignInsMaxMs)} ms`);
  out.push('  CPU, in cores (1.00 = one core busy all along):');
  out.push(`    sign-ins  ${cpu(loginCpu)}`);
  out.push(`    pages     ${cpu(pageCpu)}`);
  const per = (x: number | undefined, rate: number) => f(x === undefined ? undefined : (x * 1000) / rate, 2);
  out.push(`  CPU per sign-in: argon2 (server threads) ${per(loginCpu.serverOtherThreads, login.rate)} ms · event loop ${per(loginCpu.serverEventLoop, login.rate)} ms · postgres ${per(loginCpu.postgres, login.rate)} ms · client ${per(loginCpu.loadgen, login.rate)} ms → CPU-bound ceiling of the ratio ≈ ${f(cpuCeiling(loginCpu), 3)}`);
  out.push(`  CPU per page:    event loop ${per(pageCpu.serverEventLoop, page.rate)} ms · postgres ${per(pageCpu.postgres, page.rate)} ms · client ${per(pageCpu.loadgen, page.rate)} ms`);
  out.push(`  Load average ${r.machine.loadAverageAtStart.map((x) => f(x, 2)).join(' ')} at start, ${r.machine.loadAverageAtEnd.map((x) => f(x, 2)).join(' ')} at end · ${f(r.durationS)} s in all · JSON in bench/last-run.json`);
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}

// Interrupted: exit through process.exit, so that the 'exit' hooks stop the server and the cluster.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
