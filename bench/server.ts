// The portal under test, as operators run it: `node bin/sesame.js serve` in a child process, with the
// production hash parameters (the server's context uses its defaults), no SMTP (development mailbox),
// logs at warn. The child is the process whose memory and CPU the benchmark reads.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerChild {
  pid: number;
  url: string;
  /** Last lines the server wrote (warnings, errors). */
  output(): string;
  stop(): Promise<void>;
}

const BIN = fileURLToPath(new URL('../bin/sesame.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Variables that would change what is measured (SMTP, production mode, another database…) are dropped. */
function serverEnv(databaseUrl: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SESAME_') || k === 'DATABASE_URL' || k === 'NODE_ENV' || k === 'PORT' || k === 'HOST') continue;
    env[k] = v;
  }
  // The hasher's own settings are kept: they are what the benchmark is about.
  for (const k of ['SESAME_HASH_CONCURRENCY', 'SESAME_HASH_QUEUE']) if (process.env[k]) env[k] = process.env[k];
  return { ...env, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', SESAME_LOG_LEVEL: 'warn', ...extra };
}

export async function startServerChild(databaseUrl: string, extra: Record<string, string> = {}): Promise<ServerChild> {
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, BIN, 'serve'], {
    env: serverEnv(databaseUrl, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const append = (d: Buffer) => {
    log = (log + d.toString()).slice(-8_192);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not announce its address within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`bench: the server ${why}\n${log.trim()}`));
    }
    // The start banner names the listening address: « Écoute sur http://127.0.0.1:PORT ».
    child.stdout!.on('data', () => {
      const match = /(http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => fail(`exited during start (${code ?? signal})`));
    child.once('error', (e) => fail(`could not be started (${e.message})`));
  });

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    url,
    output: () => log,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(kill);
        }
        process.off('exit', killOnExit);
      })();
      return stopping;
    },
  };
}
