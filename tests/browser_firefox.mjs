// browser_firefox.mjs - drives proto/www in headless Firefox (WebDriver BiDi via puppeteer-core) for
// tests/e2e_browser_firefox.sh.  Usage: node browser_firefox.mjs URL SECONDS SCREENSHOT
// Env: ROOT (repository root; puppeteer-core lives in $ROOT/build/node_modules), FIREFOX (binary).
//
// Firefox's fake microphone (media.navigator.streams.fake) plays a tone; the page streams it for
// SECONDS, then Stop.  Prints one JSON line: the states reached, the meter's maximum, every message
// the server sent (recorded by a WebSocket wrapper installed before the page's own script, so the
// "final result" check does not rely on the page's bookkeeping), the close code and the console.
import { createRequire } from 'module';
import fs from 'fs';

const require = createRequire(process.env.ROOT + '/build/node_modules/');
const puppeteer = require('puppeteer-core');
const [url, seconds, shot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const out = { log: [], errors: [] };
let browser;
try {
  browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX,
    headless: true,
    protocolTimeout: 60000,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      // No sound card here (containers, CI): with no cubeb output the AudioContext never leaves
      // "suspended" and the worklet never runs.  Firefox's mock cubeb context (its own test
      // setting) gives the graph a clock without a device.
      'media.cubeb.force_mock_context': true,
    },
  });
  out.browserVersion = await browser.version();
  const page = await browser.newPage();
  page.on('console', (m) => {
    out.log.push(m.type() + ': ' + m.text());
    if (m.type() === 'error') out.errors.push(m.text());
  });
  page.on('pageerror', (e) => out.errors.push('pageerror: ' + (e && e.message ? e.message : String(e))));
  await page.evaluateOnNewDocument(() => {
    const Native = window.WebSocket;
    window.__wsLog = { received: [], closes: [] };
    window.WebSocket = class extends Native {
      constructor(...a) {
        super(...a);
        this.addEventListener('message', (ev) => {
          if (typeof ev.data === 'string') window.__wsLog.received.push(ev.data);
        });
        this.addEventListener('close', (ev) => window.__wsLog.closes.push(ev.code));
      }
    };
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.click('#start');
  await page.waitForFunction(() => window.asrd.state === 'listening' || window.asrd.state === 'error',
                             { timeout: 20000, polling: 50 });
  out.listening = await page.evaluate(() => window.asrd.state);
  const end = Date.now() + parseFloat(seconds) * 1000;
  out.maxLevel = 0;
  out.partials = [];
  while (Date.now() < end) {
    const s = await page.evaluate(() => ({ w: parseFloat(document.getElementById('level').style.width) || 0,
                                           p: window.asrd.partial }));
    out.maxLevel = Math.max(out.maxLevel, s.w);
    if (s.p && out.partials[out.partials.length - 1] !== s.p) out.partials.push(s.p);
    await sleep(50);
  }
  await page.click('#stop');
  await page.waitForFunction(() => window.asrd.state === 'closed' || window.asrd.state === 'error',
                             { timeout: 30000, polling: 50 });
  Object.assign(out, await page.evaluate(() => ({
    state: window.asrd.state, closeCode: window.asrd.closeCode, contextRate: window.asrd.contextRate,
    sentBytes: window.asrd.sentBytes, error: window.asrd.error, finals: window.asrd.finals,
    shown: document.getElementById('final').textContent,
    received: window.__wsLog.received, closes: window.__wsLog.closes,
  })));
  await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  out.exception = String(e && e.stack ? e.stack : e);
} finally {
  if (browser) await browser.close().catch(() => {});
}
fs.writeFileSync(1, JSON.stringify(out) + '\n');
