import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sameSecret } from '../domain/tokens.ts';
import { runCommand } from './commands.ts';

/**
 * PGlite is one process's database: while the portal runs on it, `sesame user …` cannot open it too.
 * The server then runs the command on the CLI's behalf, for loopback callers that present the secret
 * it wrote in the data directory (readable by its owner only).
 */
export const BRIDGE_FILE = 'cli-bridge.json';

export interface BridgeInfo {
  url: string;
  secret: string;
  pid: number;
}

export function bridgeFile(dataDir: string): string {
  return path.join(dataDir, BRIDGE_FILE);
}

export async function enableBridge(app: FastifyInstance, dataDir: string): Promise<() => void> {
  const secret = randomBytes(32).toString('base64url');
  app.post('/_cli', { config: { csrf: false } }, async (req, reply) => {
    const remote = req.socket.remoteAddress ?? '';
    const auth = String(req.headers.authorization ?? '');
    const loopback = remote === '127.0.0.1' || remote === '::1' || remote === '::ffff:127.0.0.1';
    if (!loopback || !sameSecret(auth, `Bearer ${secret}`)) return reply.code(404).send({ error: 'not found' });
    const argv = (req.body as { argv?: unknown })?.argv;
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string') || argv.length > 50) {
      return reply.code(400).send({ error: 'argv' });
    }
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(app.ctx, argv as string[], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return reply.send({ code, out, err });
  });
  return () => {
    const address = app.server.address();
    if (!address || typeof address === 'string') return;
    const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    const info: BridgeInfo = { url, secret, pid: process.pid };
    fs.writeFileSync(bridgeFile(dataDir), JSON.stringify(info), { mode: 0o600 });
  };
}

export function removeBridge(dataDir: string): void {
  try {
    const info = JSON.parse(fs.readFileSync(bridgeFile(dataDir), 'utf8')) as BridgeInfo;
    if (info.pid === process.pid) fs.unlinkSync(bridgeFile(dataDir));
  } catch {
    // nothing to remove
  }
}

/** Sends a command to a running server; undefined when none answers (then the CLI opens the database itself). */
export async function forwardToServer(dataDir: string, argv: string[]): Promise<{ code: number; out: string[]; err: string[] } | undefined> {
  let info: BridgeInfo;
  try {
    info = JSON.parse(fs.readFileSync(bridgeFile(dataDir), 'utf8')) as BridgeInfo;
  } catch {
    return undefined;
  }
  try {
    const res = await fetch(`${info.url}/_cli`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${info.secret}` },
      body: JSON.stringify({ argv }),
      signal: AbortSignal.timeout(60_000),
    });
    if (!res.ok) return undefined;
    return (await res.json()) as { code: number; out: string[]; err: string[] };
  } catch {
    return undefined;
  }
}
