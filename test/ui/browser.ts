import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * Headless Chromium (Debian's `chromium`, installed by scripts/ensure-tools.sh) driven over the
 * DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ended by NUL, written to
 * the browser's fd 3 and read from its fd 4, as puppeteer's pipe transport does). No websocket
 * client, no extra dependency, no port.
 */

const ENSURE_TOOLS = fileURLToPath(new URL('../../scripts/ensure-tools.sh', import.meta.url));
/** Screenshots land here (git-ignored), one PNG per page the test looked at. */
export const ARTIFACT_DIR = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

let tools: Promise<string | false> | undefined;

/** false when chromium is there (installed now if need be, as root); else why the test skips. */
export function chromiumSkipReason(): Promise<string | false> {
  tools ??= new Promise((resolve, reject) => {
    execFile('bash', [ENSURE_TOOLS, 'chromium'], (err, _stdout, stderr) => {
      if (!err) resolve(false);
      else if (process.getuid?.() !== 0) resolve(`chromium not installed (not root, so not installing):\n${stderr.trim()}`);
      else reject(new Error(`scripts/ensure-tools.sh chromium failed (${err.message})\n${stderr}`));
    });
  });
  return tools;
}

type Json = Record<string, unknown>;

interface Pending {
  resolve(result: Json): void;
  reject(err: Error): void;
}

interface CdpEvent {
  readonly method: string;
  readonly params: Json;
  readonly sessionId?: string;
}

export interface LogEntry {
  readonly source: string;
  readonly level: string;
  readonly text: string;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface PageOptions {
  /** Answer HTTP auth challenges with these; absent: cancel them (as a user pressing Cancel). */
  readonly credentials?: Credentials;
}

/** One page (tab), attached with a flat session. */
export class Page {
  /** Console, CSP and other browser log lines, and uncaught exceptions. */
  readonly log: LogEntry[] = [];
  /** Every URL the page requested. */
  readonly requests: string[] = [];
  /** How many auth challenges the browser met (a 401 + WWW-Authenticate it would prompt for). */
  authChallenges = 0;

  constructor(
    private readonly browser: Browser,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Json = {}): Promise<Json> {
    return this.browser.send(method, params, this.sessionId);
  }

  async navigate(url: string): Promise<void> {
    const result = await this.send('Page.navigate', { url });
    if (typeof result['errorText'] === 'string' && result['errorText'] !== '') throw new Error(`navigate ${url}: ${result['errorText']}`);
  }

  /** The value of a page expression (JSON-serialisable); a thrown exception rejects. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (result['exceptionDetails']) throw new Error(`evaluate ${expression}: ${JSON.stringify(result['exceptionDetails'])}`);
    return (result['result'] as { value: T }).value;
  }

  /**
   * Polls `expression` until it is truthy, up to `timeoutMs` (generous: the machine is shared),
   * and returns its value; on timeout, throws with the last value and the page's log.
   */
  async waitFor<T>(expression: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      last = await this.evaluate<T>(expression).catch((err: unknown) => `(${String(err)})`);
      if (last) return last as T;
      if (Date.now() > deadline) {
        const body = await this.evaluate<string>('document.body ? document.body.innerText : ""').catch(() => '');
        throw new Error(`timed out waiting for ${expression} (last: ${JSON.stringify(last)})\npage text:\n${body}\nlog:\n${JSON.stringify(this.log, null, 2)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A full-page PNG under test-artifacts/ui/. Returns its path. */
  async screenshot(name: string): Promise<string> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    await mkdir(ARTIFACT_DIR, { recursive: true });
    const file = join(ARTIFACT_DIR, `${name}.png`);
    await writeFile(file, Buffer.from(data, 'base64'));
    return file;
  }
}

export class Browser {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #pages = new Map<string, { page: Page; options: PageOptions }>();
  #buffer = '';
  #exited: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly input: Writable,
    output: Readable,
    private readonly stderr: () => string,
    private readonly profile: string,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => this.onData(chunk));
    child.on('exit', (code, signal) => {
      this.#exited = new Error(`chromium exited (${code ?? signal})\n${this.stderr()}`);
      for (const p of this.#pending.values()) p.reject(this.#exited);
      this.#pending.clear();
    });
  }

  /** Starts headless Chromium with a fresh profile; `close()` kills it and removes the profile. */
  static async launch(): Promise<Browser> {
    const profile = await mkdtemp(join(tmpdir(), 'quayside-chromium-'));
    const args = [
      '--headless',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      // As root Chromium refuses its sandbox; the pages are our own, on loopback.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--metrics-recording-only',
      '--password-store=basic',
      '--window-size=1280,900',
      'about:blank',
    ];
    const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-20_000);
    });
    const input = child.stdio[3] as Writable;
    const output = child.stdio[4] as Readable;
    const browser = new Browser(child, input, output, () => stderr, profile);
    await browser.send('Browser.getVersion');
    return browser;
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#nextId++;
    const message = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    return new Promise<Json>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.input.write(`${message}\0`);
    });
  }

  private onData(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\0')) !== -1) {
      const text = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      const message = JSON.parse(text) as { id?: number; result?: Json; error?: { message: string }; method?: string; params?: Json; sessionId?: string };
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`CDP: ${message.error.message}`));
        else pending?.resolve(message.result ?? {});
      } else if (message.method) {
        this.onEvent({ method: message.method, params: message.params ?? {}, ...(message.sessionId ? { sessionId: message.sessionId } : {}) });
      }
    }
  }

  private onEvent(event: CdpEvent): void {
    const entry = event.sessionId ? this.#pages.get(event.sessionId) : undefined;
    if (!entry) return;
    const { page, options } = entry;
    const p = event.params;
    switch (event.method) {
      case 'Log.entryAdded': {
        const e = p['entry'] as { source: string; level: string; text: string };
        page.log.push({ source: e.source, level: e.level, text: e.text });
        break;
      }
      case 'Runtime.consoleAPICalled':
        page.log.push({ source: 'console', level: String(p['type']), text: JSON.stringify(p['args']) });
        break;
      case 'Runtime.exceptionThrown':
        page.log.push({ source: 'exception', level: 'error', text: JSON.stringify(p['exceptionDetails']) });
        break;
      case 'Fetch.requestPaused':
        page.requests.push(String((p['request'] as { url: string }).url));
        void page.send('Fetch.continueRequest', { requestId: p['requestId'] }).catch(() => undefined);
        break;
      case 'Fetch.authRequired': {
        page.authChallenges++;
        const response = options.credentials
          ? { response: 'ProvideCredentials', username: options.credentials.username, password: options.credentials.password }
          : { response: 'CancelAuth' };
        void page.send('Fetch.continueWithAuth', { requestId: p['requestId'], authChallengeResponse: response }).catch(() => undefined);
        break;
      }
    }
  }

  /** A new tab, in a fresh browser context, with its log, request list and auth answers wired up. */
  async newPage(options: PageOptions = {}): Promise<Page> {
    // Its own browser context: no cookies, cache or HTTP auth shared with other pages.
    const { browserContextId } = (await this.send('Target.createBrowserContext', { disposeOnDetach: true })) as { browserContextId: string };
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank', browserContextId })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    this.#pages.set(sessionId, { page, options });
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Log.enable');
    // Every request pauses here, so the test sees each URL and answers each auth challenge.
    await page.send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });
    await page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  async close(): Promise<void> {
    if (!this.#exited) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      await this.send('Browser.close').catch(() => undefined);
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(this.profile, { recursive: true, force: true, maxRetries: 5 });
  }
}
