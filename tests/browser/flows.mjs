// flows.mjs - the consent pages in a real browser (Debian's Chromium driven
// by playwright-core), as a person meets them (issue 11, item 12): the test
// starts m365-emulator and `wfc` itself, opens the URL wfc prints, and types
// and clicks by the labels and words on the pages. Each step asserts what
// the person sees and what `wfc` then says.
//
//   node flows.mjs BUILD_DIR            (ctest: browser_flows)
//   WFC_SCREENSHOTS=docs/img node ...   (also writes a PNG of each page)
//
// Environment: CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const build = resolve(process.argv[2] || 'build');
const shots = process.env.WFC_SCREENSHOTS ? resolve(process.env.WFC_SCREENSHOTS) : null;
if (shots) mkdirSync(shots, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'wfc-browser-'));
const PREVIEW = '5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a';
const users = {
  admin: ['admin@contoso.test', 'Admin-Passw0rd!'],
  alice: ['alice@contoso.test', 'Alice-Passw0rd!'],
  bob: ['bob@contoso.test', 'Bob-Passw0rd!'],
  carol: ['carol@contoso.test', 'Carol-Passw0rd!'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let emu, base, browser;
const children = [];

async function startEmulator() {
  const portFile = join(dir, 'port');
  emu = spawn(join(build, 'bin', 'm365-emulator'), ['--port', '0', '--port-file', portFile],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(emu);
  for (let i = 0; i < 100 && !existsSync(portFile); i++) await sleep(50);
  base = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
}

async function admin(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status}`);
  return r.status === 204 ? null : r.json();
}

// `wfc ARGS --print-url`: resolves the URL it prints; .done gives
// {code, out, err} when it exits.
function wfc(args) {
  const env = {
    ...process.env,
    O365MAIL_AUTHORITY_URL: base,
    O365MAIL_GRAPH_URL: `${base}/v1.0`,
    O365MAIL_PORTAL_URL: `${base}/__emulator/portal/apps/{client_id}`,
    O365MAIL_PREVIEW_CLIENT_ID: PREVIEW,
    O365MAIL_PRODUCTION_CLIENT_ID: '8a4c6e2b-1f3d-4a5c-9b7e-2d4f6a8c0e1b',
    O365MAIL_PRODUCTION_CLIENT_SECRET: 'emu-prod-secret-Q7v~xK2pL9',
  };
  const p = spawn(join(build, 'bin', 'wfc'),
    [...args, '--print-url', '--timeout', '60', '--store', join(dir, 'store.db'),
      '--plugin-dir', join(build, 'plugins')], { env });
  children.push(p);
  let out = '', err = '';
  let gotUrl;
  const url = new Promise((res) => { gotUrl = res; });
  p.stdout.on('data', (d) => {
    out += d;
    const nl = out.indexOf('\n');
    if (nl > 0) gotUrl(out.slice(0, nl));
  });
  p.stderr.on('data', (d) => { err += d; });
  const done = new Promise((res) => p.on('exit', (code) => res({ code, out, err })));
  return { url, done };
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// On the sign-in page: types the name and password by their labels.
async function signIn(page, who, name) {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  if (name) await shot(page, name);
  await page.getByLabel('Email, phone, or Skype').fill(users[who][0]);
  await page.getByLabel('Password').fill(users[who][1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function expectText(page, text) {
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 10000 });
}

async function newContext() {
  return browser.newContext({ viewport: { width: 900, height: 700 } });
}

const steps = [];
function step(name, fn) { steps.push([name, fn]); }

// The emulator's front page links the portal and the docs.
step('front page', async (ctx) => {
  const page = await ctx.newPage();
  await page.goto(base + '/');
  await expectText(page, 'm365-emulator');
  assert.ok(await page.getByRole('link', { name: /portal/i }).count() > 0, 'no portal link');
  assert.ok(await page.getByRole('link', { name: /docs|documentation/i }).count() > 0, 'no docs link');
  await shot(page, '00-front-page');
});

// Sign in with a wrong password first: a visible error, the name kept;
// then consent without "on behalf of your organization".
step('sign in and consent', async (ctx) => {
  await admin('POST', '/__emulator/consent/settings', { userConsent: 'allowed', adminConsentWorkflow: false });
  const w = wfc(['connection', 'new', '--plugin', 'o365mail', '--nickname', 'alice',
    '--env', 'preview', '--tenant', 'contoso.test']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  await page.getByLabel('Email, phone, or Skype').fill(users.alice[0]);
  await page.getByLabel('Password').fill('not-her-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /Your account or password is incorrect/);
  assert.equal(await page.getByLabel('Email, phone, or Skype').inputValue(), users.alice[0]);
  await shot(page, '01-wrong-password');
  await page.getByLabel('Password').fill(users.alice[1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expectText(page, 'Permissions requested');
  assert.equal(await page.getByLabel('Consent on behalf of your organization').count(), 0);
  await shot(page, '02-consent');
  await page.getByRole('button', { name: 'Accept' }).click();
  await expectText(page, 'Connected as alice@contoso.test');
  await shot(page, '03-connected');
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /connected: "alice" as alice@contoso.test/);
});

// Same browser, another person: the account picker, "Use another account".
step('account picker', async (ctx) => {
  const w = wfc(['connection', 'new', '--plugin', 'o365mail', '--nickname', 'bob',
    '--env', 'preview', '--tenant', 'contoso.test']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  await expectText(page, 'Pick an account');
  await shot(page, '04-pick-an-account');
  await page.getByRole('link', { name: 'Use another account' }).click();
  await signIn(page, 'bob');
  await page.getByRole('button', { name: 'Accept' }).click();
  await expectText(page, 'Connected as bob@contoso.test');
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
});

// Reauthorize "alice" signed in as Bob: refused, nothing changed.
step('reauthorize as another account refused', async () => {
  const ctx = await newContext();
  const w = wfc(['connection', 'reauthorize', 'alice']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  // login_hint fills Alice's name; Bob types his own.
  assert.equal(await page.getByLabel('Email, phone, or Skype').inputValue(), users.alice[0]);
  await signIn(page, 'bob');
  await expectText(page, 'this connection belongs to alice@contoso.test');
  await shot(page, '05-wrong-account');
  const r = await w.done;
  assert.equal(r.code, 1);
  assert.match(r.out, /refused: Signed in as bob@contoso.test, but the connection "alice" belongs to alice@contoso.test/);
  await ctx.close();
});

// Reauthorize as Alice: no consent page, connected.
step('reauthorize', async () => {
  const ctx = await newContext();
  const w = wfc(['connection', 'reauthorize', 'alice']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'alice');
  await expectText(page, 'Connected as alice@contoso.test');
  const r = await w.done;
  assert.equal(r.code, 0, r.err);
  await ctx.close();
});

// Cancel on the consent page.
step('decline', async () => {
  const ctx = await newContext();
  const w = wfc(['connection', 'new', '--plugin', 'o365mail', '--nickname', 'carol',
    '--env', 'preview', '--tenant', 'contoso.test']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'carol');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expectText(page, 'Connection not authorized');
  await shot(page, '06-declined');
  const r = await w.done;
  assert.equal(r.code, 1);
  assert.match(r.out, /denied: /);
  await ctx.close();
});

// Admin consent workflow: Carol asks with a justification; pending; the
// administrator approves in the portal; Carol connects.
step('admin consent workflow', async () => {
  await admin('POST', '/__emulator/consent/settings', { userConsent: 'not_allowed', adminConsentWorkflow: true });
  let ctx = await newContext();
  let w = wfc(['connection', 'new', '--plugin', 'o365mail', '--nickname', 'carol',
    '--env', 'preview', '--tenant', 'contoso.test']);
  let page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'carol');
  await expectText(page, 'Approval required');
  await page.getByLabel('Enter justification for requesting this app').fill('Triage the support inbox');
  await shot(page, '07-approval-required');
  await page.getByRole('button', { name: 'Request approval' }).click();
  await expectText(page, 'Request sent');
  await shot(page, '08-request-sent');
  await page.getByRole('link', { name: 'Return to the application' }).click();
  let r = await w.done;
  assert.equal(r.code, 1);
  assert.match(r.out, /approval request submitted, pending/);
  await ctx.close();

  ctx = await newContext();
  w = wfc(['connection', 'reauthorize', 'carol']);
  page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'carol');
  await expectText(page, 'Request pending');
  await shot(page, '09-request-pending');
  await page.getByRole('link', { name: 'Return to the application' }).click();
  r = await w.done;
  assert.equal(r.code, 1);
  await ctx.close();

  // The administrator approves in the portal, reached from the front page.
  const actx = await newContext();
  const apage = await actx.newPage();
  await apage.goto(base + '/');
  await apage.getByRole('link', { name: /portal/i }).click();
  await expectText(apage, 'Justification: Triage the support inbox');
  await expectText(apage, 'Requested by carol@contoso.test');
  await shot(apage, '10-portal-request');
  await apage.getByRole('button', { name: 'Approve' }).click();
  await expectText(apage, 'No pending requests.');
  await actx.close();
  const reqs = await admin('GET', '/__emulator/consent/requests?status=approved');
  assert.equal(reqs.value.length, 1);

  ctx = await newContext();
  w = wfc(['connection', 'reauthorize', 'carol']);
  page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'carol');
  await expectText(page, 'Connected as carol@contoso.test');
  r = await w.done;
  assert.equal(r.code, 0, r.err);
  await ctx.close();
});

// Need admin approval; "Have an admin account?": the administrator signs
// in and consents on behalf of the organization; wfc gets the answer.
step('need admin approval, admin signs in', async () => {
  await admin('POST', '/__emulator/consent/settings', { userConsent: 'not_allowed', adminConsentWorkflow: false });
  const ctx = await newContext();
  const w = wfc(['connection', 'new', '--plugin', 'o365mail', '--nickname', 'team',
    '--env', 'production', '--tenant', 'contoso.test']);
  const page = await ctx.newPage();
  await page.goto(await w.url);
  await signIn(page, 'bob');
  await expectText(page, 'Need admin approval');
  await shot(page, '11-need-admin-approval');
  await page.getByRole('link', { name: 'Have an admin account? Sign in with that account' }).click();
  await signIn(page, 'admin');
  await expectText(page, 'Permissions requested');
  await page.getByLabel('Consent on behalf of your organization').check();
  await shot(page, '12-consent-for-organization');
  await page.getByRole('button', { name: 'Accept' }).click();
  await expectText(page, 'Connected as admin@contoso.test');
  const r = await w.done;
  assert.equal(r.code, 0, r.err + r.out);
  await ctx.close();
});

let failed = 0;
try {
  await startEmulator();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const shared = await newContext();
  for (const [name, fn] of steps) {
    const t0 = Date.now();
    try {
      await fn(shared);
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
} finally {
  if (browser) await browser.close();
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
