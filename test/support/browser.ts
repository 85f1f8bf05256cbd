// Real Chromium for the browser tests (playwright-core drives Debian's Chromium, no download).
//
// describeBrowser() skips its suite, with a console message, when no Chromium is installed —
// except under CI (process.env.CI set), where a missing browser fails the run.
// The axe-core scan is injected through page.evaluate (DevTools protocol, not subject to the
// page's CSP), so the contexts keep the portal's real Content-Security-Policy: a page whose
// script the CSP blocks fails its test instead of passing in a laxer browser.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Response } from 'playwright-core';
import { describe, it } from 'vitest';
import type { Portal } from './portal.ts';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** beforeAll of a browser file: a PGlite portal and Chromium, both slow to start on a loaded machine. */
export const START_TIMEOUT_MS = 120_000;
/** One whole journey through several pages, each scanned by axe (about 10 s on an idle machine). */
export const JOURNEY_TIMEOUT_MS = 90_000;

/** CHROMIUM_PATH, then Debian's and Ubuntu's usual paths; undefined when none exists. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH?.trim();
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

const CHROMIUM = findChromium();

/** describe() when Chromium is there; a skip with a message otherwise; a failure under CI. */
export function describeBrowser(name: string, fn: () => void): void {
  if (CHROMIUM) {
    describe(name, fn);
    return;
  }
  const why = `no Chromium found (CHROMIUM_PATH=${process.env.CHROMIUM_PATH ?? ''}, tried ${CANDIDATES.join(', ')})`;
  if (process.env.CI) {
    describe(name, () => {
      it('needs Chromium', () => {
        throw new Error(`Browser tests cannot run under CI: ${why}. Install chromium or set CHROMIUM_PATH.`);
      });
    });
    return;
  }
  console.warn(`[browser] SKIPPED « ${name} »: ${why}. Install chromium (apt-get install chromium) or set CHROMIUM_PATH.`);
  describe.skip(name, fn);
}

export function launchBrowser(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('launchBrowser: no Chromium found');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export interface PageOptions {
  javaScriptEnabled?: boolean;
  locale?: string;
}

/** Pages whose context has JavaScript disabled. */
const withoutScripts = new WeakSet<Page>();

/** Problems the page reported by itself: script errors, CSP refusals, failed loads. */
const problems = new WeakMap<Page, string[]>();

/** A page in a fresh context (own cookies). Close it with page.context().close(). */
export async function newPage(browser: Browser, opts: PageOptions = {}): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    javaScriptEnabled: opts.javaScriptEnabled ?? true,
    locale: opts.locale ?? 'fr-FR',
    viewport: { width: 1100, height: 900 },
  });
  // Generous for a loaded machine (each sign-in hashes with argon2); a missing element still fails in 10 s.
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await context.newPage();
  if (opts.javaScriptEnabled === false) withoutScripts.add(page);
  const list: string[] = [];
  problems.set(page, list);
  page.on('pageerror', (err) => list.push(`pageerror: ${err.message}`));
  // Error statuses of the pages themselves are expected (400, 401, 404 pages): only subresources count.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) list.push(`console: ${msg.text()}`);
  });
  page.on('response', (res) => {
    const req = res.request();
    if (res.status() >= 400 && !req.isNavigationRequest() && !req.url().endsWith('/favicon.ico')) list.push(`${res.status()} ${req.method()} ${req.url()}`);
  });
  page.on('requestfailed', (req) => list.push(`failed: ${req.method()} ${req.url()} ${req.failure()?.errorText ?? ''}`));
  return page;
}

/** Script errors, CSP violations and failed subresources seen on this page so far. */
export function pageProblems(page: Page): string[] {
  return [...(problems.get(page) ?? [])];
}

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

interface AxeNode { target: unknown[]; failureSummary?: string }
interface AxeViolation { id: string; impact: string | null; help: string; helpUrl: string; nodes: AxeNode[] }

/** Runs axe-core (WCAG 2.0/2.1 A and AA, best practices) on the page; fails listing each violation. */
export async function expectNoAxeViolations(page: Page, label: string, opts: { disableRules?: string[] } = {}): Promise<void> {
  if (!withoutScripts.has(page)) return runAxe(page, label, opts.disableRules ?? []);
  // With JavaScript disabled, page.evaluate still runs but timers never fire, and axe needs them. The
  // page's DOM is scanned in a twin page that has JavaScript but whose own scripts are all blocked, so
  // it shows exactly what a browser without JavaScript shows (stylesheet included, for the contrasts).
  const html = await page.content();
  const url = page.url();
  const twinContext = await page.context().browser()!.newContext({ locale: 'fr-FR', viewport: page.viewportSize() ?? undefined });
  try {
    const twin = await twinContext.newPage();
    await twin.route('**/*', (route) => {
      const request = route.request();
      if (request.resourceType() === 'script') return route.abort();
      if (request.isNavigationRequest() && request.url() === url) return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
      return route.continue();
    });
    await twin.goto(url);
    await runAxe(twin, `${label} (sans JavaScript)`, opts.disableRules ?? []);
  } finally {
    await twinContext.close();
  }
}

async function runAxe(page: Page, label: string, disableRules: string[]): Promise<void> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (disabled: string[]) => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
      rules: Object.fromEntries(disabled.map((id) => [id, { enabled: false }])),
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  }, disableRules);
  const report = violations.map((v) =>
    `- ${v.id} (${v.impact ?? '?'}): ${v.help}\n${v.nodes.map((n) => `    ${JSON.stringify(n.target)}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ')}` : ''}`).join('\n')}`,
  ).join('\n');
  if (violations.length > 0) throw new Error(`${violations.length} axe violation(s) on « ${label} » (${page.url()}):\n${report}`);
}

/**
 * A full-page screenshot under $SESAME_SCREENSHOTS (e.g. /tmp/sesame-shots) when that variable is set;
 * nothing otherwise, so the suite stays fast and writes nothing in the repository.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.SESAME_SCREENSHOTS;
  if (!dir) return;
  await page.screenshot({ path: `${dir.replace(/\/$/, '')}/${name}.png`, fullPage: true });
}

/** The element that has the focus: its id, or its tag name when it has none. */
export function focusedId(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el ? el.id || el.tagName.toLowerCase() : '';
  });
}

/** Clicks (a submit button, a link) and waits until the page it leads to has loaded. */
export async function clickAndWait(page: Page, target: Locator): Promise<Response | null> {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), target.click()]);
  return response;
}

/** The text of the page's h1, trimmed. */
export async function heading(page: Page): Promise<string> {
  return ((await page.getByRole('heading', { level: 1 }).textContent()) ?? '').trim();
}

/** What aria-describedby points to, as a screen reader would read it. */
export function description(field: Locator): Promise<string> {
  return field.evaluate((el) => (el.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean)
    .map((id) => document.getElementById(id)?.textContent?.replace(/\s+/g, ' ').trim() ?? `(#${id} missing)`).join(' | '));
}

/**
 * The form control labelled exactly `text`. getByLabel matches the label's whole text, which for a
 * required field ends with the visual « * » (aria-hidden, so not in the accessible name).
 */
export function labelled(page: Page | Locator, text: string): Locator {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return page.getByLabel(new RegExp(`^\\s*${escaped}(\\s*\\*)?\\s*$`));
}

/** The « Valider » link of a reset mail, moved from the public origin (SESAME_PUBLIC_URL) to the test portal. */
export function resetLink(mailHtml: string, portal: Portal): string {
  const href = /<a\b[^>]*href="([^"]*\/reinitialisation\/[^"]+)"[^>]*>\s*Valider\s*<\/a>/.exec(mailHtml)?.[1];
  if (!href) throw new Error(`no « Valider » link in the mail:\n${mailHtml}`);
  const url = new URL(href.replace(/&amp;/g, '&'));
  if (url.origin !== portal.config.publicUrl.origin) throw new Error(`the link ${url.origin} is not on ${portal.config.publicUrl.origin}`);
  return `${portal.url}${url.pathname}${url.search}`;
}

/**
 * WCAG 1.4.10 (reflow): at 320 CSS pixels wide the page needs no horizontal scrolling (data tables
 * scroll inside their own wrapper, which is allowed). Restores the viewport afterwards.
 */
export async function expectReflow(page: Page, label: string): Promise<void> {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 800 });
  try {
    const wide = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const over = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > width + 1
        && !(el.closest('.table-wrap') && getComputedStyle(el).position === 'static'));
      return { scroll: document.documentElement.scrollWidth, width, over: over.slice(0, 5).map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).replace(/\s+/g, '.')}` : ''}`) };
    });
    if (wide.scroll > wide.width) throw new Error(`« ${label} » scrolls sideways at 320 px (${wide.scroll} px wide): ${wide.over.join(', ')}`);
  } finally {
    if (before) await page.setViewportSize(before);
  }
}
