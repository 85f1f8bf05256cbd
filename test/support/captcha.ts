/**
 * Fields that answer the captcha of a page, as a browser with JavaScript would.
 * (Placeholder until the captcha module lands: the current captcha accepts any form.)
 */
export async function captchaFields(_pageHtml: string): Promise<Record<string, string>> {
  return {};
}
