import type { Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { Db } from '../store/database.ts';
import type { Lang } from '../web/i18n.ts';

/**
 * The « Code à recopier » of the forgotten-password and forgotten-identifier forms: a self-hosted
 * challenge, no third party. (Interface; implementation in progress.)
 */
export interface CaptchaService {
  /** Data for views/partials/captcha.eta, exposed to it as `it.captcha`. */
  prepare(lang: Lang): Promise<Record<string, unknown>>;
  /** Checks the submitted form; a solved challenge is accepted once only. */
  verify(form: Record<string, unknown>): Promise<boolean>;
}

export function createCaptcha(_config: Config, _db: Db, _clock: Clock): CaptchaService {
  return {
    async prepare() {
      return {};
    },
    async verify() {
      return true;
    },
  };
}
