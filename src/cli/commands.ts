import { parseArgs } from 'node:util';
import type { Context } from '../context.ts';
import { createAccount, issueTemporaryPassword, listAccounts, unlockAccount } from '../flows/accounts.ts';
import { resetSecondFactor } from '../flows/second-factor-reset.ts';
import { CLI_ORIGIN } from '../store/audit.ts';
import { migrate } from '../store/migrations.ts';
import { isRight } from '../flows/establishments.ts';
import { API_TOKEN_HELP, API_TOKEN_USAGE, runApiTokenCommand } from './api-commands.ts';
import { IMPORT_USAGE, runImportCommand } from './import-command.ts';
import { auditHelp, runAuditCommand } from './audit-commands.ts';
import { ESTABLISHMENT_USAGE, runEstablishmentCommand, runStaffCommand, STAFF_USAGE } from './establishment-commands.ts';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Exit codes a shell user expects: 0 done, 1 refused (bad value, unknown account), 2 wrong usage. */
export const EXIT = { ok: 0, refused: 1, usage: 2 } as const;

export const USAGE = `Usage : sesame <commande> [options]

Commandes :
  serve                         démarre le portail (c'est ce que fait « npm start »)
  migrate                       crée ou met à jour le schéma de la base
  user create --login IDENTIFIANT --email EMAIL --name "Prénom Nom" [--establishment ID --role DROIT]…
                                crée un compte avec un mot de passe provisoire envoyé par mail
                                (deux mails séparés : l'identifiant, puis le mot de passe provisoire) ;
                                avec --establishment, --role donne des droits sur cet établissement
                                (admin, patient-data, member) ; sans, des rôles globaux
  user reset IDENTIFIANT        émet un nouveau mot de passe provisoire, envoyé de la même façon
  user unlock IDENTIFIANT       déverrouille un compte bloqué après trop d'échecs
  user reset-2fa IDENTIFIANT    retire téléphone de secours, application d'authentification, clés d'accès,
                                codes de secours et navigateurs de confiance ; met fin aux sessions
                                (il reste le code par e-mail ; un mail prévient l'utilisateur)
  user list                     liste les comptes
  user import FICHIER.csv --establishment ID
                                importe des comptes (en-tête nom,email,droits) ; tout est vérifié d'abord
  api-token create --name NOM --establishment ID [--establishment ID]…
                                crée un jeton pour l'API /api/v1 (affiché une seule fois)
  api-token list | api-token revoke ID
                                liste ou révoque les jetons de l'API
  establishment create --name NOM [--finess NUMÉRO]
                                crée un établissement et affiche son identifiant
  establishment list            liste les établissements
  platform-admin IDENTIFIANT    donne le rôle d'administrateur de la plateforme
  support IDENTIFIANT           donne le rôle de support technique
  audit export [--from AAAA-MM-JJ] [--to AAAA-MM-JJ] [--user IDENTIFIANT] [--type TYPE] [--output FICHIER]
                                exporte le journal d'audit en CSV (sortie standard par défaut)
  audit purge [--dry-run]       supprime les événements plus anciens que SESAME_AUDIT_RETENTION

Options communes : --help
Les réglages viennent des variables d'environnement (voir README.md).`;

const USER_USAGE = {
  create: 'Usage : sesame user create --login IDENTIFIANT --email EMAIL --name "Prénom Nom" [--establishment ID] [--role ROLE]…',
  reset: 'Usage : sesame user reset IDENTIFIANT',
  unlock: 'Usage : sesame user unlock IDENTIFIANT',
  'reset-2fa': "Usage : sesame user reset-2fa IDENTIFIANT\nRetire toutes les méthodes de double authentification du compte sauf l'e-mail (téléphone de secours, application d'authentification, clés d'accès, codes de secours, navigateurs de confiance) et met fin à ses sessions. Un mail prévient l'utilisateur.",
  list: 'Usage : sesame user list',
} as const;

const MIGRATE_USAGE = 'Usage : sesame migrate\nCrée ou met à jour le schéma de la base (le serveur le fait aussi à chaque démarrage).';
const HELP_FLAGS = ['--help', '-h'];

/** The usage asked for with --help / -h (or `sesame user help`): answered without opening the database. */
export function helpFor(argv: string[]): string | undefined {
  const [group, action] = argv;
  const wantsHelp = argv.some((a) => HELP_FLAGS.includes(a));
  if (group === 'migrate') return wantsHelp ? MIGRATE_USAGE : undefined;
  if (group === 'audit' && wantsHelp) return auditHelp(action);
  if (group === 'establishment' && wantsHelp) return action === 'create' || action === 'list' ? ESTABLISHMENT_USAGE[action] : `${ESTABLISHMENT_USAGE.create}\n${ESTABLISHMENT_USAGE.list}`;
  if ((group === 'platform-admin' || group === 'support') && wantsHelp) return STAFF_USAGE[group];
  if (group === 'api-token' && wantsHelp) return action && action in API_TOKEN_USAGE ? API_TOKEN_USAGE[action as keyof typeof API_TOKEN_USAGE] : API_TOKEN_HELP;
  if (group === 'user' && action === 'import' && wantsHelp) return IMPORT_USAGE;
  if (group !== 'user') return undefined;
  if (action === 'help' || HELP_FLAGS.includes(action ?? '')) return USAGE;
  if (wantsHelp && action && action in USER_USAGE) return USER_USAGE[action as keyof typeof USER_USAGE];
  return undefined;
}

const FIELD_NAMES: Record<string, string> = { login: '--login', email: '--email', name: '--name', role: '--role', establishment: '--establishment' };
const CODE_TEXT: Record<string, string> = {
  'invalid-login': "n'est pas un identifiant valide (2 à 63 caractères : lettres minuscules, chiffres, « . », « _ » ou « - »)",
  'invalid-email': "n'est pas une adresse e-mail valide",
  'invalid-name': 'doit contenir un nom (200 caractères au plus)',
  'invalid-role': "n'est pas un rôle valide (lettres minuscules, chiffres et « - »)",
  'login-taken': 'est déjà utilisé par un autre compte',
  'unknown-establishment': "ne désigne aucun établissement (voir sesame establishment list)",
  'email-taken': 'est déjà utilisée par un autre compte',
};

/** Commands that work on an open context: run by the CLI itself, or by the server on its behalf. */
export async function runCommand(ctx: Context, argv: string[], io: Output): Promise<number> {
  const [group, action, ...rest] = argv;
  const help = helpFor(argv);
  if (help !== undefined) {
    io.out(help);
    return EXIT.ok;
  }
  if (group === 'migrate') {
    const ran = await migrate(ctx.db);
    io.out(ran.length ? `Migrations appliquées : ${ran.join(', ')}` : 'Le schéma est à jour.');
    return EXIT.ok;
  }
  if (group === 'establishment') return runEstablishmentCommand(ctx, action, rest, io);
  if (group === 'audit') return runAuditCommand(ctx, action, rest, io);
  if (group === 'platform-admin' || group === 'support') return runStaffCommand(ctx, group, argv.slice(1), io);
  if (group === 'api-token') return runApiTokenCommand(ctx, action, rest, io);
  if (group === 'user' && action === 'import') return runImportCommand(ctx, rest, io);
  if (group !== 'user') {
    io.err(`Commande inconnue : ${group ?? '(aucune)'}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (!action || !(action in USER_USAGE)) {
    io.err(`Sous-commande inconnue : user ${action ?? ''}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const usage = USER_USAGE[action as keyof typeof USER_USAGE];
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        login: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' },
        role: { type: 'string', multiple: true }, establishment: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${usage}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(usage);
    return EXIT.ok;
  }
  switch (action) {
    case 'create': {
      const missing = (['login', 'email', 'name'] as const).filter((k) => !values[k]);
      if (missing.length > 0 || positionals.length > 0) {
        io.err(`${missing.length ? `Option manquante : ${missing.map((m) => `--${m}`).join(', ')}` : `Argument inattendu : ${positionals.join(' ')}`}\n${usage}`);
        return EXIT.usage;
      }
      const establishmentId = values.establishment;
      const wrongRight = establishmentId ? (values.role ?? []).find((r) => !isRight(r)) : undefined;
      if (wrongRight !== undefined) {
        io.err(`--role « ${wrongRight} » n'est pas un droit d'établissement (admin, patient-data ou member).`);
        return EXIT.refused;
      }
      const result = await createAccount(ctx, {
        login: values.login!, email: values.email!, name: values.name!,
        ...(establishmentId
          ? { establishment: { id: establishmentId, rights: (values.role ?? ['member']).filter(isRight) } }
          : { roles: values.role ?? [] }),
      }, CLI_ORIGIN);
      if (!result.ok) {
        for (const e of result.errors) {
          const shown = e.field === 'login' ? values.login : e.field === 'email' ? values.email : e.field === 'name' ? values.name
            : e.field === 'establishment' ? values.establishment : (values.role ?? []).join(', ');
          io.err(`${FIELD_NAMES[e.field] ?? e.field} « ${shown} » ${CODE_TEXT[e.code] ?? e.code}.`);
        }
        return EXIT.refused;
      }
      io.out(`Compte « ${values.login!.trim().toLowerCase()} » créé. Deux mails partent vers ${values.email!.trim().toLowerCase()} : l'identifiant, puis le mot de passe provisoire (valable ${Math.round(ctx.config.tempPasswordTtlMs / 86_400_000 * 10) / 10} j).`);
      return EXIT.ok;
    }
    case 'reset':
    case 'unlock': {
      if (positionals.length !== 1) {
        io.err(usage);
        return EXIT.usage;
      }
      const login = positionals[0]!;
      if (action === 'reset') {
        if (!(await issueTemporaryPassword(ctx, login, CLI_ORIGIN))) {
          io.err(`Aucun compte « ${login} ».`);
          return EXIT.refused;
        }
        io.out(`Nouveau mot de passe provisoire émis pour « ${login} » : deux mails partent (identifiant, mot de passe). Ses sessions ont pris fin.`);
        return EXIT.ok;
      }
      const outcome = await unlockAccount(ctx, login, CLI_ORIGIN);
      if (outcome === 'unknown') {
        io.err(`Aucun compte « ${login} ».`);
        return EXIT.refused;
      }
      io.out(outcome === 'unlocked' ? `Compte « ${login} » déverrouillé.` : `Le compte « ${login} » n'était pas verrouillé.`);
      return EXIT.ok;
    }
    case 'reset-2fa': {
      if (positionals.length !== 1) {
        io.err(usage);
        return EXIT.usage;
      }
      const login = positionals[0]!;
      const reset = await resetSecondFactor(ctx, login, CLI_ORIGIN);
      if (!reset) {
        io.err(`Aucun compte « ${login} ».`);
        return EXIT.refused;
      }
      const removed = [
        reset.backupPhone ? 'téléphone de secours' : '',
        reset.totp ? "application d'authentification" : '',
        reset.passkeys ? `${reset.passkeys} clé(s) d'accès` : '',
        reset.recoveryCodes ? `${reset.recoveryCodes} code(s) de secours` : '',
        reset.trustedBrowsers ? `${reset.trustedBrowsers} navigateur(s) de confiance` : '',
      ].filter(Boolean);
      io.out(`Double authentification de « ${reset.login} » réinitialisée : ${removed.length ? `retiré : ${removed.join(', ')}` : 'aucune méthode à retirer'} ; ${reset.sessions} session(s) terminée(s). Il reste le code par e-mail (${reset.email}) ; un mail l'en avertit.`);
      return EXIT.ok;
    }
    case 'list': {
      const now = ctx.clock.now();
      const rows = await listAccounts(ctx);
      if (rows.length === 0) {
        io.out('Aucun compte. Créez le premier avec : sesame user create --login … --email … --name "…"');
        return EXIT.ok;
      }
      io.out(['IDENTIFIANT', 'E-MAIL', 'NOM', 'RÔLES', 'ÉTAT'].join('\t'));
      for (const r of rows) {
        const state = r.disabled_at ? 'désactivé'
          : r.locked_at ? 'verrouillé'
            : r.temp_password_expires_at ? (r.temp_password_expires_at <= now ? 'mot de passe provisoire expiré' : 'mot de passe provisoire')
              : 'actif';
        io.out([r.login, r.email, r.display_name, r.roles.join(',') || '-', state].join('\t'));
      }
      return EXIT.ok;
    }
  }
  return EXIT.usage;
}
