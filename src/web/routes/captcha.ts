import type { FastifyInstance } from 'fastify';

/** Routes the captcha widget needs (its challenge endpoint); see src/security/captcha.ts. */
export async function captchaRoutes(_app: FastifyInstance) {}
