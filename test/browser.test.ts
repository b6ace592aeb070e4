/**
 * The web console in a real browser: playwright-core driving Debian Chromium (DESIGN.md §4 launch arguments)
 * against `buildServer` listening on a loopback port, on a SQLite database seeded through the domain modules.
 * Flows: log in per role, watch a batch progress, pass and fail cards at the QC station with a keyboard-wedge
 * scanner (type + Enter, F2/F4), scan a box at its collection centre and issue a card, and be refused outside
 * the role. Screenshots go to test-artifacts/browser/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type KadiServer, type Role, type User } from '../src/api/index.ts';
import { packCards, shipBoxes } from '../src/dispatch/index.ts';
import { recordQcResult, type QcPolicy } from '../src/qc/index.ts';
import { advanceCard, CENTRE, OTHER_CENTRE, PASSWORD, ROLES_ALL, seedCards, seedUsers, type SeededCard } from './api-fixtures.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** This bureau has every card looked at by QC staff after the automated chip and face checks. */
const QC_POLICY: QcPolicy = { requiredKinds: ['CHIP', 'FACE', 'VISUAL'] };
const SHOTS = path.resolve(import.meta.dirname, '..', 'test-artifacts', 'browser');

let t: TestDatabase;
let server: KadiServer;
let base: string;
let users: Record<Role, User>;
let profile: string;
let context: BrowserContext;
let page: Page;
let qcCards: SeededCard[];
let centreCards: SeededCard[];
let box: string;
const pageErrors: string[] = [];

const HOME: Record<Role, string> = {
  operator: '/console/',
  qc: '/console/qc.html',
  logistics: '/console/dispatch.html',
  custodian: '/console/keys.html',
  admin: '/console/users.html',
};

/** The id of the focused element (a string expression: this file is type-checked without the DOM library). */
function activeId(): Promise<string | undefined> {
  return page.evaluate('document.activeElement ? document.activeElement.id : undefined');
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function login(role: Role): Promise<void> {
  await context.clearCookies();
  await page.goto(`${base}/console/login.html`);
  await page.fill('#username', users[role].name);
  await page.fill('#password', PASSWORD);
  await page.click('#submit');
  await page.waitForURL((u) => !u.pathname.endsWith('/login.html'));
  await expect.poll(() => page.textContent('#kadi-role')).toBe(role);
  await page.waitForSelector('body[data-ready]', { state: 'attached' });
}

async function open(pathname: string): Promise<void> {
  await page.goto(`${base}${pathname}`);
  await page.waitForSelector('body[data-ready]', { state: 'attached' });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await createTestDatabase();
  users = await seedUsers(t.db, 'wanjiku');
  qcCards = await seedCards(t.db, 2, { state: 'PRINTED', surname: 'Otieno' });
  // The automated checks (the pipeline's qc stage) have passed; the cards wait in PRINTED for the human.
  for (const c of qcCards) {
    for (const kind of ['CHIP', 'FACE'] as const) {
      await recordQcResult(t.db, { cardId: c.cardId, kind, passed: true, actor: 'worker:qc@test', station: 'QC-R1', policy: QC_POLICY });
    }
  }
  centreCards = await seedCards(t.db, 3, { state: 'QC_PASSED', centre: OTHER_CENTRE, surname: 'Chebet' });
  const packed = await packCards(t.db, { actor: 'setup', centre: OTHER_CENTRE, sealPartial: true });
  box = packed.boxes[0]!.code;
  await shipBoxes(t.db, { actor: 'setup', centre: OTHER_CENTRE });
  server = await buildServer({ db: t.db, log: { level: 'silent' }, qc: { policy: QC_POLICY }, options: { eventsIntervalMs: 300 } });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  profile = mkdtempSync(path.join(os.tmpdir(), 'kadi-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport: { width: 1280, height: 900 } });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterAll(async () => {
  await context?.close();
  await server?.app.close();
  await t?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('console in Chromium', () => {
  it('logs each role in and lands it on its own page, with only its menu entries', async () => {
    await page.goto(`${base}/console/login.html`);
    await page.fill('#username', users.qc.name);
    await page.fill('#password', 'not the password');
    await page.click('#submit');
    await expect.poll(() => page.textContent('#message')).toContain('wrong');
    await shot('login-refused');
    for (const role of ROLES_ALL) {
      await login(role);
      expect(new URL(page.url()).pathname).toBe(HOME[role]);
      const nav = (await page.locator('header nav a').allTextContents()).join('|');
      expect(nav.includes('QC station'), `${role} sees the QC station`).toBe(role === 'qc');
      expect(nav.includes('Users'), `${role} sees Users`).toBe(role === 'admin');
      expect(nav.includes('Dispatch'), `${role} sees Dispatch`).toBe(role === 'logistics');
      await shot(`home-${role}`);
    }
    await page.click('#kadi-logout');
    await page.waitForURL(/login\.html$/);
    await page.goto(`${base}/console/`);
    await page.waitForURL(/login\.html\?next=/); // the session is gone
  });

  it('lets the operator create a batch and watch it progress live', async () => {
    const batchCards = await seedCards(t.db, 4, { state: 'ORDERED', centre: CENTRE });
    await login('operator');
    await page.fill('#batch-size', '4');
    await page.selectOption('#batch-centre', CENTRE);
    await page.click('#new-batch button[type=submit]');
    await page.waitForURL(/batch\.html\?id=\d+$/);
    const id = Number(new URL(page.url()).searchParams.get('id'));
    expect((await t.db('cards').where({ batch_id: id }).count({ n: '*' }))[0]!.n).toBe(4);
    await expect.poll(() => page.textContent('#progress')).toContain('0%');
    await shot('batch-start');
    // The line works: two cards go all the way to QC_PASSED, then the other two.
    for (const [i, c] of batchCards.entries()) {
      while ((await advanceCard(t.db, c.cardId)) !== 'QC_PASSED');
      if (i === 1) {
        await expect.poll(() => page.textContent('#progress'), { timeout: 10_000 }).toContain('50%');
        await shot('batch-half');
      }
    }
    await expect.poll(() => page.textContent('#progress'), { timeout: 10_000 }).toContain('100%');
    await expect.poll(() => page.textContent('#states')).toContain('QC_PASSED');
    await shot('batch-done');
    // The dashboard shows it too (server-sent events).
    await page.goto(`${base}/console/`);
    await expect.poll(() => page.textContent('#batches'), { timeout: 10_000 }).toContain('100%');
    await expect.poll(() => page.textContent('#live')).toContain('Live');
    await shot('dashboard');
  });

  it('passes and fails cards at the QC station with a keyboard-wedge scanner', async () => {
    await login('qc');
    expect(await activeId()).toBe('scan');
    const [pass, fail] = qcCards as [SeededCard, SeededCard];
    // Scanner: types the code, then Enter.
    await page.keyboard.type(pass.documentNumber.toLowerCase());
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#doc')).toBe(pass.documentNumber);
    expect(await page.textContent('#holder')).toContain(pass.surname);
    expect(await page.textContent('#checks')).toMatch(/CHIP\s*pass.*FACE\s*pass/s);
    expect(await page.textContent('#required')).toContain('VISUAL …');
    expect(await activeId()).toBe('scan'); // ready for the next scan
    await shot('qc-card');
    await page.keyboard.press('F2');
    await expect.poll(() => page.textContent('#message')).toContain('PASSED');
    expect((await t.db('cards').where({ id: pass.cardId }).first('state')).state).toBe('QC_PASSED');
    await shot('qc-passed');

    await page.keyboard.type(fail.documentNumber);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#doc')).toBe(fail.documentNumber);
    await page.selectOption('#reason', 'QC_PHOTO_DEFECT');
    await page.click('#fail');
    await expect.poll(() => page.textContent('#message')).toContain('FAILED (QC_PHOTO_DEFECT)');
    const spoiled = await t.db('cards').where({ id: fail.cardId }).first('state', 'spoil_reason');
    expect(spoiled).toEqual({ state: 'SPOILED', spoil_reason: 'QC_PHOTO_DEFECT' });
    expect(await t.db('cards').where({ order_id: fail.orderId, state: 'ORDERED' }).first('id')).toBeTruthy();
    expect(await page.textContent('#recent')).toContain(fail.documentNumber);
    // A card already checked cannot be passed again.
    await page.keyboard.type(pass.documentNumber);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#message')).toContain('QC takes PRINTED cards only');
    expect(await page.isDisabled('#pass')).toBe(true);
    await shot('qc-failed');
  });

  it('scans a box in at its collection centre and issues a card to its holder', async () => {
    await login('logistics');
    await page.selectOption('#location', OTHER_CENTRE);
    await page.selectOption('#event', 'received');
    await page.click('#box-scan');
    await page.keyboard.type(box);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#scan-message')).toContain('DISPATCHED → RECEIVED, 3 cards');
    expect((await t.db('boxes').where({ code: box }).first('state')).state).toBe('RECEIVED');
    // The same label scanned again is refused with its reason code.
    await page.keyboard.type(box);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#scan-message')).toContain('SCAN_DUPLICATE');
    await shot('dispatch-scanned');

    const c = centreCards[0]!;
    await page.click('#issue-doc');
    await page.keyboard.type(c.documentNumber);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#issue-name')).toContain(c.surname);
    await expect.poll(() => activeId()).toBe('presented');
    await page.keyboard.type(c.nationalNumber);
    await shot('dispatch-issue');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#issue-message')).toContain('ISSUED');
    expect((await t.db('cards').where({ id: c.cardId }).first('state')).state).toBe('ISSUED');
    await shot('dispatch-issued');
  });

  it('refuses each role what lies outside it, in the page and at the API', async () => {
    const tryApi = (url: string, body: unknown) =>
      page.evaluate(
        async ([u, b]) => {
          const r = await fetch(u as string, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
          return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code };
        },
        [url, body] as const,
      );
    await login('operator');
    await open('/console/qc.html');
    await expect.poll(() => page.textContent('#refused')).toContain('operator');
    await shot('refused-operator-qc');
    expect(await tryApi('/api/qc/results', { documentNumber: qcCards[0]!.documentNumber, passed: true })).toEqual({ status: 403, code: 'FORBIDDEN' });

    await login('qc');
    await open('/console/dispatch.html');
    await expect.poll(() => page.textContent('#refused')).toContain('qc');
    expect(await tryApi('/api/dispatch/scans', { code: box, event: 'opened', at: OTHER_CENTRE })).toEqual({ status: 403, code: 'FORBIDDEN' });
    await shot('refused-qc-dispatch');

    await login('admin');
    await open('/console/keys.html');
    await expect.poll(() => page.textContent('#keys')).toContain('No key yet');
    expect(await page.isHidden('#ops')).toBe(true); // the admin sees keys but runs no key operation
    expect(await tryApi('/api/keys/rotate-ds', {})).toEqual({ status: 403, code: 'FORBIDDEN' });
    await shot('refused-admin-keys');

    await login('custodian');
    await open('/console/users.html');
    await expect.poll(() => page.textContent('#refused')).toContain('custodian');
    expect(await tryApi('/api/users', { name: 'intruder', role: 'admin' })).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await t.db('cards').where({ id: qcCards[0]!.cardId }).first('state')).state).toBe('QC_PASSED');
  });

  it('ran every page without a script error', () => {
    expect(pageErrors).toEqual([]);
  });
});
