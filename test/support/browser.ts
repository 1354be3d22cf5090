import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { isRoot } from './env.js';

/**
 * The part of puppeteer-core's API the tests use, typed here: the build must not need puppeteer-core (a
 * worktree or machine without it compiles, and the browser tests skip saying why).
 */
export interface Page {
  on(event: 'console', listener: (message: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', listener: (error: unknown) => void): void;
  on(event: 'request', listener: (request: InterceptedRequest) => void): void;
  setRequestInterception(enabled: boolean): Promise<void>;
  setViewport(viewport: { width: number; height: number; deviceScaleFactor: number }): Promise<void>;
  goto(url: string, options: { waitUntil: 'load' }): Promise<unknown>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<Uint8Array>;
  evaluate<T>(fn: () => T): Promise<Awaited<T>>;
  evaluate<T, A>(fn: (arg: A) => T, arg: A): Promise<Awaited<T>>;
  click(selector: string): Promise<void>;
  type(selector: string, text: string): Promise<void>;
  $eval<T>(selector: string, fn: (element: Element) => T): Promise<Awaited<T>>;
  $$eval<T, A>(selector: string, fn: (elements: Element[], arg: A) => T, arg: A): Promise<Awaited<T>>;
  close(): Promise<void>;
}

interface InterceptedRequest {
  url(): string;
  isNavigationRequest(): boolean;
  continue(): Promise<void>;
  abort(reason: string): Promise<void>;
}

export interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Puppeteer {
  launch(options: Record<string, unknown>): Promise<Browser>;
}

/** Debian's chromium package (scripts/setup.sh --tests installs it); puppeteer-core never downloads one. */
export const CHROMIUM = '/usr/bin/chromium';

/** Chromium, and puppeteer-core in node_modules (a worktree set up before it was added may lack it). */
export function browserMissing(): string | null {
  if (!existsSync(CHROMIUM)) return "Debian's chromium is not installed (scripts/setup.sh --tests)";
  try {
    createRequire(import.meta.url).resolve('puppeteer-core');
  } catch {
    return 'puppeteer-core is not installed (npm ci)';
  }
  return null;
}

/** Headless Chromium for the duration of `use`, closed (with its temporary profile) whatever happens. */
export async function withChromium<T>(use: (browser: Browser) => Promise<T>): Promise<T> {
  // A specifier the compiler does not resolve: puppeteer-core is needed only when the browser tests run.
  const specifier: string = 'puppeteer-core';
  const { default: puppeteer } = (await import(specifier)) as { default: Puppeteer };
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // DevTools over a pipe, not a TCP port: nothing listens while the tests run.
    pipe: true,
    // Chromium refuses to run its sandbox as root.
    args: [...(isRoot() ? ['--no-sandbox'] : []), '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-gpu'],
    timeout: 60_000,
    protocolTimeout: 60_000,
  });
  try {
    return await use(browser);
  } finally {
    await browser.close();
  }
}

/** A page opened from a file, with what it did that a self-contained page must not do. */
export interface OpenedPage {
  page: Page;
  /** Console errors and warnings, uncaught exceptions, CSP violations. */
  problems: string[];
  /** Every request other than the page itself: each was aborted. */
  requests: string[];
}

/**
 * Open `file` in a fresh page of `width` × `height` CSS pixels. Requests other than the file itself are
 * recorded and aborted, so that nothing leaves the machine even if the page tried.
 */
export async function openFile(browser: Browser, file: string, width: number, height: number): Promise<OpenedPage> {
  const page = await browser.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  const url = pathToFileURL(file).href;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e instanceof Error ? e.message : String(e)}`));
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (request.url() === url && request.isNavigationRequest()) return void request.continue();
    requests.push(request.url());
    void request.abort('blockedbyclient');
  });
  await page.setViewport({ width, height, deviceScaleFactor: 1 });
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems, requests };
}

/** Width and height from a PNG's IHDR chunk (bytes 16–23), to check what a screenshot holds. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || signature.some((b, i) => png[i] !== b)) throw new Error('not a PNG');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * The colour of pixels in a PNG (a screenshot), read back by Chromium itself: the image is drawn into a
 * canvas on a blank page of its own (not the page under test, whose requests are blocked).
 */
export async function pixelsOf(browser: Browser, png: Uint8Array, points: { x: number; y: number }[]): Promise<[number, number, number][]> {
  const page = await browser.newPage();
  try {
    const dataUrl = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    return await page.evaluate(async ({ dataUrl, points }) => {
      const img = new Image();
      img.src = dataUrl;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return points.map((p) => [...ctx.getImageData(p.x, p.y, 1, 1).data.slice(0, 3)] as [number, number, number]);
    }, { dataUrl, points });
  } finally {
    await page.close();
  }
}
