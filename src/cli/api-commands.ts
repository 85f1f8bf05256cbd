import { parseArgs } from 'node:util';
import type { Context } from '../context.ts';
import { createApiToken, listApiTokens, revokeApiToken } from '../flows/api-tokens.ts';
import { CLI_ORIGIN } from '../store/audit.ts';
import type { Output } from './commands.ts';

export const API_TOKEN_USAGE = {
  create: 'Usage : sesame api-token create --name NOM --establishment ID [--establishment ID]…\nCrée un jeton pour l’API /api/v1, limité à ces établissements. Le jeton est affiché une seule fois, sur la sortie standard : conservez-le, seule son empreinte est enregistrée.',
  list: 'Usage : sesame api-token list\nListe les jetons (jamais leur valeur) : identifiant, nom, établissements, dernière utilisation, état.',
  revoke: 'Usage : sesame api-token revoke ID\nRévoque le jeton : il est refusé dès la requête suivante.',
} as const;

export const API_TOKEN_HELP = `${API_TOKEN_USAGE.create}\n\n${API_TOKEN_USAGE.list}\n\n${API_TOKEN_USAGE.revoke}`;

const EXIT = { ok: 0, refused: 1, usage: 2 } as const;

export async function runApiTokenCommand(ctx: Context, action: string | undefined, rest: string[], io: Output): Promise<number> {
  if (action !== 'create' && action !== 'list' && action !== 'revoke') {
    io.err(`Sous-commande inconnue : api-token ${action ?? ''}\n\n${API_TOKEN_HELP}`);
    return EXIT.usage;
  }
  const usage = API_TOKEN_USAGE[action];
  let values: { name?: string | undefined; establishment?: string[] | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { name: { type: 'string' }, establishment: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${usage}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(usage);
    return EXIT.ok;
  }
  if (action === 'list') {
    if (positionals.length > 0 || values.name || values.establishment) {
      io.err(usage);
      return EXIT.usage;
    }
    const rows = await listApiTokens(ctx);
    if (rows.length === 0) {
      io.out('Aucun jeton. Créez-en un avec : sesame api-token create --name "…" --establishment ID');
      return EXIT.ok;
    }
    io.out(['IDENTIFIANT', 'NOM', 'ÉTABLISSEMENTS', 'DERNIÈRE UTILISATION', 'ÉTAT'].join('\t'));
    for (const r of rows) {
      io.out([r.id, r.name, r.establishment_ids.join(','), r.last_used_at?.toISOString() ?? 'jamais', r.revoked_at ? `révoqué le ${r.revoked_at.toISOString()}` : 'actif'].join('\t'));
    }
    return EXIT.ok;
  }
  if (action === 'revoke') {
    if (positionals.length !== 1 || values.name || values.establishment) {
      io.err(usage);
      return EXIT.usage;
    }
    const outcome = await revokeApiToken(ctx, positionals[0]!, CLI_ORIGIN);
    if (outcome === 'unknown') {
      io.err(`Aucun jeton « ${positionals[0]} » (voir sesame api-token list).`);
      return EXIT.refused;
    }
    io.out(outcome === 'revoked' ? `Jeton ${positionals[0]} révoqué.` : `Le jeton ${positionals[0]} était déjà révoqué.`);
    return EXIT.ok;
  }
  const missing = [!values.name ? '--name' : '', !values.establishment?.length ? '--establishment' : ''].filter(Boolean);
  if (missing.length > 0 || positionals.length > 0) {
    io.err(`${missing.length ? `Option manquante : ${missing.join(', ')}` : `Argument inattendu : ${positionals.join(' ')}`}\n${usage}`);
    return EXIT.usage;
  }
  const result = await createApiToken(ctx, { name: values.name!, establishmentIds: values.establishment! }, CLI_ORIGIN);
  if (!result.ok) {
    for (const e of result.errors) {
      io.err(e.field === 'name'
        ? `--name « ${values.name} » doit contenir un nom (100 caractères au plus).`
        : `--establishment « ${String(e.vars?.id ?? '')} » ne désigne aucun établissement (voir sesame establishment list).`);
    }
    return EXIT.refused;
  }
  // The token alone on stdout (the only time it is ever shown): TOKEN=$(sesame api-token create …)
  io.err(`Jeton « ${values.name!.trim()} » créé (identifiant ${result.id}). Il ne sera plus jamais affiché : conservez-le maintenant.`);
  io.out(result.token);
  return EXIT.ok;
}
