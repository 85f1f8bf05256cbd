import type { FastifyInstance } from 'fastify';
import { bridgeFile, enableBridge, removeBridge } from './cli/bridge.ts';
import type { Config } from './config.ts';
import { createContext, type Context } from './context.ts';
import { purgeExpiredSessions } from './store/sessions.ts';
import { purgeOldIpFailures } from './store/throttle.ts';
import { buildApp } from './web/app.ts';

export interface RunningServer {
  app: FastifyInstance;
  ctx: Context;
  url: string;
  close(): Promise<void>;
}

/** Starts the portal: database (migrated), outbox worker, housekeeping, HTTP. */
export async function startServer(config: Config): Promise<RunningServer> {
  const ctx = await createContext(config, { startWorker: true });
  const app = await buildApp(ctx);
  const publishBridge = ctx.engine === 'pglite' ? await enableBridge(app, config.dataDir) : undefined;
  await app.listen({ port: config.port, host: config.host });
  publishBridge?.();
  const limits = { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs };
  const housekeeping = setInterval(() => {
    const now = ctx.clock.now();
    Promise.all([
      purgeExpiredSessions(ctx.db, now, limits),
      purgeOldIpFailures(ctx.db, now, config.ipFailureWindowMs),
      ctx.db.deleteFrom('captcha_spent').where('expires_at', '<', now).execute(),
    ]).catch((err) => ctx.log.warn({ err: (err as Error).message }, 'housekeeping failed'));
  }, 10 * 60_000);
  housekeeping.unref();
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : config.port;
  return {
    app,
    ctx,
    url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`,
    async close() {
      clearInterval(housekeeping);
      if (publishBridge) removeBridge(config.dataDir);
      await app.close();
      await ctx.close();
    },
  };
}

export function banner(config: Config, server: RunningServer): string {
  const lines = [
    '',
    `  ${config.portalName} est prêt : ${config.publicUrl.toString()}`,
    `  Écoute sur ${server.url} · base ${server.ctx.engine === 'pglite' ? `PGlite (${config.dataDir})` : 'PostgreSQL'}`,
  ];
  if (config.devMailbox) {
    lines.push(`  Boîte mail de développement : ${new URL('/dev/boite-mail', config.publicUrl).toString()}`);
  }
  lines.push(
    '',
    '  Créer le premier compte (dans un autre terminal) :',
    '    npx sesame user create --login jdupont --email jean.dupont@example.org --name "Jean Dupont"',
    '  Deux mails partent : l\'identifiant, puis le mot de passe provisoire.',
    '',
  );
  if (server.ctx.engine === 'pglite') lines.push(`  (Commandes relayées par le serveur tant qu'il tourne : ${bridgeFile(config.dataDir)})`, '');
  return lines.join('\n');
}
