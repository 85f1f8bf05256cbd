import { describeDuration } from '../domain/durations.ts';

/**
 * The mails Sésame sends, in the seeds' French wording. Each is plain structured text; render.ts turns it
 * into an escaped HTML part and a text part, so no value can inject markup.
 */
export interface MailContent {
  subject: string;
  greeting: string;
  paragraphs: string[];
  /** A button in HTML, a bare link in text. */
  action?: { label: string; url: string };
  /** Shown in a box: a temporary password or an identifier. */
  highlight?: { label: string; value: string };
  after?: string[];
}

export interface Branding {
  portalName: string;
  supportEmail: string;
  supportPhone: string;
  publicUrl: URL;
}

function supportSentence(b: Branding): string {
  return b.supportPhone
    ? `merci de contacter le support technique de ${b.portalName} au ${b.supportPhone}.`
    : `merci de contacter le support technique de ${b.portalName} à l'adresse ${b.supportEmail}.`;
}

function link(b: Branding, path: string): string {
  return new URL(path, b.publicUrl).toString();
}

export function identifierMail(b: Branding, name: string, login: string, reason: 'created' | 'reset' | 'reminder'): MailContent {
  const intro = {
    created: `Un compte vient d'être créé pour vous sur ${b.portalName}. Voici votre identifiant de connexion.`,
    reset: `Votre code de connexion sur ${b.portalName} a été réinitialisé. Voici votre identifiant de connexion ; votre mot de passe provisoire vous parvient dans un mail séparé.`,
    reminder: `Vous avez demandé à recevoir votre identifiant de connexion à ${b.portalName}.`,
  }[reason];
  return {
    subject: reason === 'reminder' ? `Votre identifiant ${b.portalName}` : `${b.portalName} : votre identifiant de connexion`,
    greeting: `Bonjour ${name},`,
    paragraphs: [intro],
    highlight: { label: 'Identifiant', value: login },
    action: { label: 'Se connecter', url: link(b, '/connexion') },
    after: reason === 'created'
      ? ['Votre mot de passe provisoire vous parvient dans un mail séparé.']
      : reason === 'reminder'
        ? [`Si vous n'êtes pas à l'origine de cette demande, ignorez ce message ou ${supportSentence(b)}`]
        : [],
  };
}

export function temporaryPasswordMail(b: Branding, name: string, password: string, ttlMs: number, reason: 'created' | 'reset'): MailContent {
  const intro = reason === 'reset'
    ? `Votre code de connexion sur ${b.portalName} a été réinitialisé. Pour votre première connexion, utilisez le mot de passe provisoire suivant :`
    : `Pour votre première connexion à ${b.portalName}, utilisez le mot de passe provisoire suivant :`;
  return {
    subject: `${b.portalName} : votre mot de passe provisoire`,
    greeting: `Bonjour ${name},`,
    paragraphs: [intro],
    highlight: { label: 'Mot de passe provisoire', value: password },
    after: [
      `Ce mot de passe provisoire est valable ${describeDuration(ttlMs)}. Vous pourrez ensuite définir votre mot de passe définitif et personnel pour votre compte.`,
      `Il vous est également possible de le modifier depuis ${link(b, '/')} en allant sur « Mon compte » => « Changer mon mot de passe ».`,
      'Votre identifiant vous parvient dans un mail séparé.',
    ],
    action: { label: 'Se connecter', url: link(b, '/connexion') },
  };
}

export function passwordChangedMail(b: Branding): MailContent {
  return {
    subject: `${b.portalName} : changement de mot de passe`,
    greeting: 'Bonjour,',
    paragraphs: [
      `Votre changement de mot de passe a bien été pris en compte. Si vous n'avez pas effectué ce changement, ${supportSentence(b)}`,
    ],
  };
}

export function resetLinkMail(b: Branding, name: string, login: string, url: string, ttlMs: number): MailContent {
  return {
    subject: `${b.portalName} : demande de changement de mot de passe`,
    greeting: `Bonjour ${name},`,
    paragraphs: [
      'Une demande de changement de mot de passe sur votre compte a été demandée.',
      "Afin de prendre en compte cette demande, veuillez cliquer sur l'url suivante :",
    ],
    action: { label: 'Valider', url },
    highlight: { label: 'Votre identifiant', value: login },
    after: [
      `Ce lien n'est valable que ${describeDuration(ttlMs)} et une seule fois. Si ce délai a expiré, demandez un nouvel envoi en cliquant sur « Mot de passe oublié » sur la page de connexion.`,
      `Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe reste inchangé. En cas de doute, ${supportSentence(b)}`,
    ],
  };
}

export function accountLockedMail(b: Branding, name: string, attempts: number): MailContent {
  return {
    subject: `${b.portalName} : votre compte est verrouillé`,
    greeting: `Bonjour ${name},`,
    paragraphs: [
      `Votre compte a été verrouillé après ${attempts} tentatives de connexion sans succès.`,
      "Pour le débloquer, définissez un nouveau mot de passe avec « Mot de passe oublié » sur la page de connexion :",
    ],
    action: { label: 'Mot de passe oublié', url: link(b, '/mot-de-passe-oublie') },
    after: [`Si vous n'êtes pas à l'origine de ces tentatives, ${supportSentence(b)}`],
  };
}

export function otpMail(b: Branding, name: string, code: string, ttlMs: number): MailContent {
  return {
    subject: `${b.portalName} : votre code de connexion`,
    greeting: `Bonjour ${name},`,
    paragraphs: ['Voici le code à usage unique demandé pour terminer votre connexion :'],
    highlight: { label: 'Code', value: code },
    after: [
      `Ce code n'est valable que ${describeDuration(ttlMs)} et une seule fois. Ne le communiquez à personne : le support ne vous le demandera jamais.`,
      `Si vous n'êtes pas à l'origine de cette connexion, quelqu'un connaît votre mot de passe : changez-le et ${supportSentence(b)}`,
    ],
  };
}

/** Short enough for one SMS (160 GSM characters), the code first for the phone's auto-fill. */
export function otpSms(b: Branding, code: string, ttlMs: number): string {
  return `${code} est votre code de connexion ${b.portalName}. Valable ${describeDuration(ttlMs)}. Ne le communiquez à personne.`;
}

export function phoneCodeSms(b: Branding, code: string, ttlMs: number): string {
  return `${code} est le code de confirmation de votre téléphone de secours ${b.portalName}. Valable ${describeDuration(ttlMs)}.`;
}

/** Notice sent when a second-factor method is added or removed, or the backup phone changes. */
export function securityNoticeMail(b: Branding, name: string, what: string): MailContent {
  return {
    subject: `${b.portalName} : modification de la sécurité de votre compte`,
    greeting: `Bonjour ${name},`,
    paragraphs: [what],
    after: [`Si vous n'êtes pas à l'origine de cette modification, ${supportSentence(b)}`],
    action: { label: 'Mon compte', url: link(b, '/compte') },
  };
}

/** « Nouvelle connexion à votre compte »: a sign-in from a browser this account had not used before. */
export function newBrowserMail(b: Branding, name: string, when: string, device: string, ip: string): MailContent {
  return {
    subject: `${b.portalName} : nouvelle connexion à votre compte`,
    greeting: `Bonjour ${name},`,
    paragraphs: [
      `Nouvelle connexion à votre compte ${b.portalName} depuis un navigateur que vous n'aviez pas encore utilisé :`,
      `Date : ${when} (heure de Paris)`,
      `Appareil : ${device}`,
      `Adresse IP : ${ip}`,
    ],
    after: [`Si ce n'était pas vous, changez votre mot de passe et contactez le support technique : ${supportSentence(b)}`],
    action: { label: 'Mon compte', url: link(b, '/compte') },
  };
}
