import pino from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createContext } from '../context.ts';
import { banner, startServer } from '../server.ts';
import { forwardToServer } from './bridge.ts';
import { EXIT, helpFor, runCommand, USAGE } from './commands.ts';

async function main(argv: string[]): Promise<number> {
  const io = { out: (l: string) => process.stdout.write(l + '\n'), err: (l: string) => process.stderr.write(l + '\n') };
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(USAGE);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const help = helpFor(argv);
  if (help !== undefined) {
    io.out(help);
    return EXIT.ok;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT.refused;
    }
    throw err;
  }
  if (argv[0] === 'serve') {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out('Usage : sesame serve\nDémarre le portail avec les réglages des variables d\'environnement (voir README.md).');
      return EXIT.ok;
    }
    const server = await startServer(config);
    io.out(banner(config, server));
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    return EXIT.ok;
  }
  if (!config.databaseUrl && argv[0] !== 'migrate') {
    const forwarded = await forwardToServer(config.dataDir, argv);
    if (forwarded) {
      forwarded.out.forEach(io.out);
      forwarded.err.forEach(io.err);
      return forwarded.code;
    }
  }
  const ctx = await createContext(config, { log: pino({ level: 'warn' }, pino.destination(2)) });
  try {
    const code = await runCommand(ctx, argv, io);
    // Mails announced by the command leave now; any that fail stay in the outbox for the server to retry.
    const report = await ctx.outbox.deliverDue();
    if (report.failed > 0) io.err(`${report.failed} mail(s) non remis pour l'instant : le serveur réessaiera.`);
    return code;
  } finally {
    await ctx.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`Erreur : ${message}\n`);
    process.exit(EXIT.refused);
  },
);
