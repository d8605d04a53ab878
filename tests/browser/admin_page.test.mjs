// The administrators' page in a real browser (headless chromium driven by playwright-core),
// against a running `treve serve` whose admin listener is TREVE_ADMIN_URL.
//
// An administrator signs in, opens TREVE_UAI, pins the preview to a Tuesday at 21:00, moves
// the end of the window that covers Tuesday evenings one hour later and adds a Saturday window;
// the preview's summary must change; she saves with a comment, and the API must then answer
// the next version with both changes. Then an auditor signs in: no edit control, the audit tab
// loads, the CSV export downloads; with TREVE_EVENT_ID, she follows that notification from the
// keyboard and sees one row per copy, as GET /v1/admin/events lists them. She opens the report
// to the conseil d'administration in a new tab. The admin also opens a crisis from the page
// (« Mode crise »), sees the preview name it, and closes it; the auditor sees it listed without
// a control.
//
// Environment:
//   TREVE_ADMIN_URL      http://127.0.0.1:PORT (the admin listener)
//   TREVE_ADMIN_TOKEN    an admin whose scope holds TREVE_UAI
//   TREVE_AUDITOR_TOKEN  an auditor whose scope holds TREVE_UAI
//   TREVE_UAI            an establishment editable through the API (not managed by the file),
//                        with a quiet window starting on Tuesday that covers 21:00
//   TREVE_EVENT_SOURCE, TREVE_EVENT_ID
//                        optional: a notification of TREVE_UAI (its connector and its id)
//   TREVE_EVENT_RECIPIENTS
//                        optional: its recipients' ids, comma-separated, never to be shown
//   TREVE_SCREENSHOT     optional: where to write a PNG of the edit view
//   TREVE_CHROMIUM       optional: the browser (default /usr/bin/chromium)
//
// Exit 0 when every check passes; otherwise 1 with the failed check on standard error.
import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import {chromium} from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`admin_page.test: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const BASE = required('TREVE_ADMIN_URL').replace(/\/+$/, '');
const ADMIN_TOKEN = required('TREVE_ADMIN_TOKEN');
const AUDITOR_TOKEN = required('TREVE_AUDITOR_TOKEN');
const UAI = required('TREVE_UAI');
const SCREENSHOT = process.env.TREVE_SCREENSHOT || '';
const EVENT_SOURCE = process.env.TREVE_EVENT_SOURCE || '';
const EVENT_ID = process.env.TREVE_EVENT_ID || '';
const EVENT_RECIPIENTS = (process.env.TREVE_EVENT_RECIPIENTS || '').split(',').filter(Boolean);
const CHROMIUM = process.env.TREVE_CHROMIUM || '/usr/bin/chromium';
// A Tuesday 21:00 without a public holiday near it: inside the weekday evening window, so the
// time that window ends shows in the summary.
const PREVIEW_DATE = '2031-03-11';
const PREVIEW_TIME = '21:00';
const TIMEOUT = 15000;

const tid = (id) => `[data-testid="${id}"]`;
let checks = 0;
function ok(what) {
  ++checks;
  console.log(`ok ${checks} - ${what}`);
}

async function apiGet(path, token) {
  const res = await fetch(BASE + path, {headers: {Authorization: `Bearer ${token}`}});
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

const addMinutes = (hhmm, n) => {
  const [h, m] = hhmm.split(':').map(Number);
  const t = (((h * 60 + m + n) % 1440) + 1440) % 1440;
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
};

// Runs `action` and answers the preview it causes (the first whose request body satisfies
// `wanted`), once the page shows its summary.
async function previewAfter(page, action, wanted = () => true) {
  const response = page.waitForResponse((r) => {
    if (!r.url().endsWith('/preview') || r.request().method() !== 'POST') return false;
    try {
      return wanted(r.request().postDataJSON() || {});
    } catch {
      return false;
    }
  }, {timeout: TIMEOUT});
  await action();
  const r = await response;
  const body = await r.json().catch(() => null);
  if (r.status() === 200) {
    assert.ok(body && typeof body.summary === 'string', `preview answered no summary: ${JSON.stringify(body)}`);
    await page.waitForFunction((s) => document.querySelector('[data-testid="preview-summary"]')?.textContent === s,
      body.summary, {timeout: TIMEOUT});
  }
  return {status: r.status(), body};
}

async function signIn(page, token) {
  await page.goto(BASE + '/');
  const input = page.getByLabel('Jeton d\'accès');
  await input.waitFor({timeout: TIMEOUT});
  assert.equal(await input.getAttribute('type'), 'password', 'the token field is a password field');
  await input.fill(token);
  await page.click(tid('sign-in'));
  await page.waitForSelector(`${tid('user-name')}, ${tid('sign-in-error')}:visible`, {timeout: TIMEOUT});
  const refused = page.locator(`${tid('sign-in-error')}:visible`);
  if (await refused.count()) assert.fail(`sign-in refused: ${await refused.first().textContent()}`);
}

async function openSchool(page) {
  const button = page.locator(tid(`school-${UAI}`));
  if (await button.count()) {
    await button.click();
  } else {
    await page.fill(tid('open-uai-input'), UAI);
    await page.click(tid('open-uai'));
  }
  await page.waitForSelector(`${tid('school-uai')}:text("${UAI}")`, {timeout: TIMEOUT});
  await page.waitForSelector(`${tid('policy-editor')}, ${tid('policy-error')}`, {timeout: TIMEOUT});
  const error = page.locator(tid('policy-error'));
  if (await error.count()) assert.fail(`the policy does not load: ${await error.first().textContent()}`);
  const summary = page.locator(`${tid('preview-summary')}[data-state]`);
  await summary.waitFor({timeout: TIMEOUT});
  assert.equal(await summary.getAttribute('data-state'), 'ok', `the preview fails: ${await summary.textContent()}`);
}

// Every visible form control has a label (a <label>, aria-label or aria-labelledby).
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
    .map((el) => el.outerHTML.slice(0, 120)));
}

async function adminScenario(browser) {
  const before = await apiGet(`/v1/admin/establishments/${UAI}/policy`, ADMIN_TOKEN);
  assert.equal(before.editable, true, `${UAI} must be editable by the admin (managed_by ${before.managed_by})`);
  ok(`${UAI} is at version ${before.version} before the test (managed_by ${before.managed_by})`);

  const context = await browser.newContext({viewport: {width: 1360, height: 1000}, locale: 'fr-FR'});
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const problems = watch(page);

  await signIn(page, ADMIN_TOKEN);
  assert.equal(await page.textContent(tid('user-role')), 'administrateur');
  ok(`the admin signs in: "${await page.textContent(tid('user-name'))}", administrateur`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('treve.admin.token')), ADMIN_TOKEN);
  ok('the token is kept in sessionStorage');

  await openSchool(page);
  ok(`${UAI} opens with its policy and a preview`);

  // Pin the preview to a Tuesday evening, so that it does not depend on when the test runs.
  if (!(await page.getAttribute('details.simulate', 'open') != null)) await page.click('details.simulate > summary');
  await page.fill(tid('preview-date'), PREVIEW_DATE);
  const pinned = await previewAfter(page, () => page.fill(tid('preview-time'), PREVIEW_TIME),
    (b) => String(b.at || '').startsWith(`${PREVIEW_DATE}T${PREVIEW_TIME}`));
  assert.equal(pinned.status, 200, `preview answered ${pinned.status}: ${JSON.stringify(pinned.body)}`);
  assert.equal(pinned.body.held, true, `a message on Tuesday ${PREVIEW_TIME} must be held: ${JSON.stringify(pinned.body)}`);
  const quietItems = await page.locator(`${tid('preview-quiet')} li`).count();
  assert.ok(quietItems > 0, 'the 14 days of quiet intervals are listed');
  ok(`preview pinned to ${PREVIEW_DATE} ${PREVIEW_TIME}: "${pinned.body.summary}" (${quietItems} quiet intervals)`);

  // The window that starts on Tuesdays: its end one hour later.
  const windows = await page.locator(`${tid('windows')} > li`).count();
  let w = -1;
  for (let i = 0; i < windows; ++i) {
    if (await page.isChecked(tid(`window-${i}-day-tue`))) {
      w = i;
      break;
    }
  }
  assert.ok(w >= 0, `no quiet window of ${UAI} starts on Tuesday`);
  const oldEnd = await page.inputValue(tid(`window-${w}-end`));
  const newEnd = addMinutes(oldEnd, 60);
  const edited = await previewAfter(page, () => page.fill(tid(`window-${w}-end`), newEnd),
    (b) => b.policy?.quiet?.[w]?.end === newEnd);
  assert.equal(edited.status, 200, `preview answered ${edited.status}: ${JSON.stringify(edited.body)}`);
  assert.notEqual(edited.body.summary, pinned.body.summary, 'the summary changes with the window');
  assert.ok(edited.body.summary.includes(newEnd), `the summary names the new end ${newEnd}: "${edited.body.summary}"`);
  assert.equal(await page.textContent(tid('preview-summary')), edited.body.summary);
  assert.equal(await page.getAttribute(tid('preview-summary'), 'aria-live'), 'polite');
  ok(`window ${w + 1} ends at ${newEnd} instead of ${oldEnd}; the summary follows: "${edited.body.summary}"`);
  assert.equal(await page.textContent(tid('dirty-status')), 'Modifications non enregistrées.');

  // A new window: no day yet (the API may refuse it, next to the days), then Saturday 12:00-14:00.
  const added = await previewAfter(page, () => page.click(tid('add-window')),
    (b) => b.policy?.quiet?.length === windows + 1);
  const n = windows;
  if (added.status === 400) {
    const pointers = (added.body?.errors || []).map((e) => e.pointer);
    assert.ok(pointers.some((p) => p.startsWith(`/policy/quiet/${n}`)),
      `the error of the new window points at it: ${JSON.stringify(added.body)}`);
    const mon = page.locator(tid(`window-${n}-day-mon`));
    await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('aria-invalid') === 'true',
      tid(`window-${n}-day-mon`), {timeout: TIMEOUT});
    const describedBy = (await mon.getAttribute('aria-describedby')) || '';
    const detail = await page.evaluate((ids) => ids.split(' ')
      .map((id) => document.getElementById(id)?.textContent || '').join(' '), describedBy);
    assert.ok(detail.trim().length > 0, 'the error is described next to the days');
    ok(`a window without a day is refused by the preview, shown next to its days: "${detail.trim()}"`);
  } else {
    ok(`a window without a day is accepted by the preview (${added.status})`);
  }
  await page.check(tid(`window-${n}-day-sat`));
  await page.fill(tid(`window-${n}-start`), '12:00');
  await page.fill(tid(`window-${n}-name`), 'samedi midi');
  const complete = await previewAfter(page, () => page.fill(tid(`window-${n}-end`), '14:00'),
    (b) => b.policy?.quiet?.[n]?.end === '14:00' && b.policy?.quiet?.[n]?.name === 'samedi midi');
  assert.equal(complete.status, 200, `preview answered ${complete.status}: ${JSON.stringify(complete.body)}`);
  assert.equal(await page.locator(`${tid('policy-editor')} [aria-invalid="true"]`).count(), 0, 'no field stays invalid');
  ok('a Saturday window 12:00-14:00 is added; the preview accepts it');

  // The Saturday window made the absences' own: the preview names that category's quiet times,
  // and the window's phrase says whom it holds.
  const perCategory = await previewAfter(page, () => page.check(tid(`window-${n}-cat-absence`)),
    (b) => JSON.stringify(b.policy?.quiet?.[n]?.categories) === '["absence"]');
  assert.equal(perCategory.status, 200, `preview answered ${perCategory.status}: ${JSON.stringify(perCategory.body)}`);
  assert.ok(Array.isArray(perCategory.body?.categories?.absence) && perCategory.body.categories.absence.length > 0,
    `the preview gives the absences their own intervals: ${JSON.stringify(perCategory.body?.categories)}`);
  await page.waitForSelector(`${tid('preview-categories')}:not([hidden])`, {timeout: TIMEOUT});
  const categoriesNote = await page.textContent(tid('preview-categories'));
  assert.ok(categoriesNote.includes('absences'), `the preview names the absences: "${categoriesNote}"`);
  assert.ok((await page.textContent(tid(`window-${n}`))).includes('seulement pour : absences'),
    'the window says it holds absences only');
  ok(`the Saturday window is for absences only; the preview says: "${categoriesNote}"`);

  // A name longer than the field allows (its maxlength lifted, as a script could): the API
  // refuses it too, and the page shows why in French next to the field.
  const nameField = tid(`window-${n}-name`);
  const longName = 'n'.repeat(65);
  await page.evaluate((sel) => document.querySelector(sel).removeAttribute('maxlength'), nameField);
  const tooLong = await previewAfter(page, () => page.fill(nameField, longName),
    (b) => b.policy?.quiet?.[n]?.name === longName);
  assert.equal(tooLong.status, 400, `a 65-character name: preview answered ${tooLong.status}: ${JSON.stringify(tooLong.body)}`);
  assert.ok((tooLong.body?.errors || []).some((e) => e.pointer === `/policy/quiet/${n}/name`),
    `the error points at the name: ${JSON.stringify(tooLong.body)}`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('aria-invalid') === 'true',
    nameField, {timeout: TIMEOUT});
  const nameError = await page.evaluate((sel) => (document.querySelector(sel).getAttribute('aria-describedby') || '')
    .split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' '), nameField);
  assert.ok(nameError.includes('le nom ne peut dépasser 64 caractères (65 reçus)'),
    `the name's error, in French, next to it: "${nameError}"`);
  ok(`a 65-character window name is refused by the API, shown next to the field: "${nameError.trim()}"`);
  const renamed = await previewAfter(page, () => page.fill(nameField, 'samedi midi'),
    (b) => b.policy?.quiet?.[n]?.name === 'samedi midi');
  assert.equal(renamed.status, 200, `preview answered ${renamed.status}: ${JSON.stringify(renamed.body)}`);
  await page.waitForFunction(() => !document.querySelector('[data-testid="policy-editor"] [aria-invalid="true"]'),
    null, {timeout: TIMEOUT});

  const missing = await unlabelled(page);
  assert.deepEqual(missing, [], `controls without a label: ${missing.join(', ')}`);
  ok('every control of the edit view has a label');

  // Save: the comment is required.
  await page.click(tid('save'));
  await page.waitForSelector(`${tid('save-dialog')}[open]`, {timeout: TIMEOUT});
  await page.click(tid('save-confirm'));
  assert.equal(await page.getAttribute(tid('save-comment'), 'aria-invalid'), 'true', 'an empty comment is refused');
  ok('saving without a comment is refused in the dialog');
  await page.fill(tid('save-comment'), `Test navigateur : fenêtre ${w + 1} jusqu'à ${newEnd}, samedi midi`);
  const isPut = (r) => r.url().endsWith(`/${UAI}/policy`) && r.request().method() === 'PUT';
  let put = page.waitForResponse(isPut, {timeout: TIMEOUT});
  await page.click(tid('save-confirm'));
  let saved = await put;
  if (saved.status() === 409) {
    const body = await saved.json();
    assert.ok(String(body.type).endsWith('weaker-policy'), `409 other than weaker-policy: ${JSON.stringify(body)}`);
    await page.check(tid('confirm-weaker'));
    put = page.waitForResponse(isPut, {timeout: TIMEOUT});
    await page.click(tid('save-confirm'));
    saved = await put;
    ok(`the API found the policy weaker (${body.weaker?.join('; ')}); confirmed in the dialog`);
  }
  const savedBody = await saved.json().catch(() => null);
  assert.equal(saved.status(), 200, `PUT answered ${saved.status()}: ${JSON.stringify(savedBody)}`);
  assert.equal(saved.request().postDataJSON().expected_version, before.version ?? null,
    'the PUT names the version it edits');
  await page.waitForSelector(`${tid('save-status')}:has-text("Version ${savedBody.version}")`, {timeout: TIMEOUT});
  ok(`saved as version ${savedBody.version}: "${await page.textContent(tid('save-status'))}"`);

  const after = await apiGet(`/v1/admin/establishments/${UAI}/policy`, ADMIN_TOKEN);
  assert.equal(after.version, (before.version ?? 0) + 1, 'the version number goes up by one');
  assert.equal(after.version, savedBody.version);
  const quiet = after.policy.quiet;
  assert.ok(Array.isArray(quiet), `the saved policy has its own windows: ${JSON.stringify(after.policy)}`);
  assert.equal(quiet[w].end, newEnd, `window ${w + 1} ends at ${newEnd}: ${JSON.stringify(quiet[w])}`);
  assert.ok(quiet.some((x) => x.days?.length === 1 && x.days[0] === 'sat' && x.start === '12:00' && x.end === '14:00' &&
    JSON.stringify(x.categories) === '["absence"]'), `the Saturday window is saved, for absences: ${JSON.stringify(quiet)}`);
  ok(`GET …/policy answers version ${after.version} with window ${w + 1} ending at ${newEnd} and the Saturday window`);

  assert.equal(await page.textContent(tid('dirty-status')), 'Aucune modification.');
  assert.equal(await page.inputValue(tid(`window-${w}-end`)), newEnd, 'the page shows the saved policy');
  if (SCREENSHOT) {
    await page.screenshot({path: SCREENSHOT, fullPage: true});
    ok(`screenshot of the edit view: ${SCREENSHOT}`);
  }

  // The history lists the new version with its comment.
  await page.click(tid('tab-history'));
  const row = page.locator(tid(`version-${after.version}`));
  await row.waitFor({timeout: TIMEOUT});
  assert.ok((await row.textContent()).includes('Test navigateur'), 'the comment is in the history');
  ok(`the history shows version ${after.version} with its comment`);

  // Crisis mode: opened from the page with its reason, shown as the preview's reason, closed.
  await page.click(tid('tab-policy'));
  await page.waitForSelector(`${tid('crisis-card')} ${tid('crisis-none')}`, {timeout: TIMEOUT});
  await page.click(tid('crisis-start'));
  await page.click(tid('crisis-submit'));
  assert.equal(await page.getAttribute(tid('crisis-reason'), 'aria-invalid'), 'true',
    'a crisis without a reason is refused on the page');
  ok('opening a crisis without a reason is refused on the page');
  const reason = 'Test navigateur : tempête, établissement fermé';
  await page.fill(tid('crisis-reason'), reason);
  await page.uncheck(tid('crisis-category-grade'));
  await page.check(tid('crisis-release'));
  const isOpen = (r) => r.url().endsWith(`/${UAI}/crises`) && r.request().method() === 'POST';
  const opening = page.waitForResponse(isOpen, {timeout: TIMEOUT});
  await page.click(tid('crisis-submit'));
  const opened = await opening;
  const openedBody = await opened.json().catch(() => null);
  assert.equal(opened.status(), 201, `POST …/crises answered ${opened.status()}: ${JSON.stringify(openedBody)}`);
  assert.equal(opened.request().postDataJSON().release_held, true);
  assert.ok(!opened.request().postDataJSON().categories.includes('grade'), 'grades left out');
  await page.waitForSelector(tid('crisis-open'), {timeout: TIMEOUT});
  assert.ok((await page.textContent(tid('crisis-open'))).includes(reason), 'the open crisis shows its reason');
  const listed = await apiGet(`/v1/admin/establishments/${UAI}/crises`, ADMIN_TOKEN);
  assert.ok(listed.length >= 1 && listed[0].open && listed[0].reason === reason && listed[0].opened_by,
    `GET …/crises lists it open: ${JSON.stringify(listed)}`);
  ok(`a crisis is opened from the page: "${await page.textContent(tid('crisis-message'))}"`);
  const during = await previewAfter(page, () => page.click(tid('preview-now')), (b) => !b.at);
  assert.equal(during.status, 200, `preview answered ${during.status}: ${JSON.stringify(during.body)}`);
  assert.equal(during.body.held, false, `a message now is delivered at once: ${JSON.stringify(during.body)}`);
  assert.ok(during.body.reason.includes(`crisis ${openedBody.id}`), `the reason names the crisis: ${during.body.reason}`);
  assert.ok(during.body.summary.includes('mode crise'), `the summary says so: ${during.body.summary}`);
  ok(`the preview names the crisis: "${during.body.summary}"`);
  const isClose = (r) => r.url().endsWith(`/crises/${openedBody.id}/close`) && r.request().method() === 'POST';
  const closing = page.waitForResponse(isClose, {timeout: TIMEOUT});
  page.once('dialog', (d) => d.accept());
  await page.click(tid('crisis-close'));
  assert.equal((await closing).status(), 200, 'closing answers 200');
  await page.waitForSelector(tid('crisis-none'), {timeout: TIMEOUT});
  const afterClose = await apiGet(`/v1/admin/establishments/${UAI}/crises`, ADMIN_TOKEN);
  assert.equal(afterClose[0].open, false);
  assert.equal(afterClose[0].closed_by, afterClose[0].opened_by, 'closed by the admin who opened it');
  ok('the crisis is closed from the page');

  await page.click(tid('sign-out'));
  await page.getByLabel('Jeton d\'accès').waitFor({timeout: TIMEOUT});
  assert.equal(await page.evaluate(() => sessionStorage.getItem('treve.admin.token')), null);
  ok('signing out forgets the token');
  problems.check();
  await context.close();
}

async function auditorScenario(browser) {
  const context = await browser.newContext({viewport: {width: 390, height: 844}, locale: 'fr-FR',
    acceptDownloads: true});
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const problems = watch(page);

  await signIn(page, AUDITOR_TOKEN);
  assert.equal(await page.textContent(tid('user-role')), 'auditeur');
  ok(`the auditor signs in on a phone-sized screen: "${await page.textContent(tid('user-name'))}"`);

  await openSchool(page);
  assert.equal(await page.locator(tid('save')).count(), 0, 'no save button for an auditor');
  assert.equal(await page.locator(tid('add-window')).count(), 0, 'no "Ajouter une fenêtre" for an auditor');
  const editable = await page
    .locator(`${tid('policy-editor')} :is(input, select, textarea, button):not([disabled])`).count();
  assert.equal(editable, 0, 'no enabled control in the policy for an auditor');
  assert.ok(await page.isVisible(tid('policy-notice')), 'the read-only notice is shown');
  await page.waitForSelector(tid('crisis-list'), {state: 'attached', timeout: TIMEOUT});
  assert.equal(await page.locator(`${tid('crisis-start')}, ${tid('crisis-close')}`).count(), 0,
    'no crisis control for an auditor');
  ok('the auditor sees the crises, without controls');
  const readonly = await page.locator(`${tid('windows-readonly')} li`).allTextContents();
  assert.ok(readonly.length > 0, 'the windows are listed as text');
  ok(`the auditor sees the policy read-only: ${readonly.join(' | ')}`);

  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390 + 1, `the page fits a phone's width (scrollWidth ${width})`);
  ok('the page fits a 390 px wide screen (the week grid scrolls inside its box)');

  // The tabs work from the keyboard.
  await page.focus(tid('tab-policy'));
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute(tid('tab-history'), 'aria-selected'), 'true');
  await page.waitForSelector(
    `${tid('panel-history')} :is(${tid('versions-table')}, ${tid('versions-empty')})`, {timeout: TIMEOUT});
  assert.equal(await page.locator('[data-testid^="rollback-"]').count(), 0, 'no rollback for an auditor');
  ok('ArrowRight moves to the history tab; no rollback button for an auditor');

  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute(tid('tab-audit'), 'aria-selected'), 'true');
  await page.waitForSelector('#panel-audit[data-state]', {timeout: TIMEOUT});
  const state = await page.getAttribute('#panel-audit', 'data-state');
  assert.equal(state, 'loaded', `the audit tab loads: ${await page.textContent(tid('audit-status'))}`);
  assert.ok(await page.isVisible(tid('stats-table')), 'the statistics table is shown');
  const count = await page.textContent(tid('audit-count'));
  ok(`the audit tab loads: statistics and the log ("${count}")`);

  const download = page.waitForEvent('download', {timeout: TIMEOUT});
  await page.click(tid('audit-export'));
  const file = await download;
  const csv = await readFile(await file.path(), 'utf8');
  assert.ok(/^seq,/.test(csv), `the CSV export starts with its header: ${csv.slice(0, 80)}`);
  ok(`"Exporter en CSV" downloads ${file.suggestedFilename()} (${csv.split('\n').filter(Boolean).length} lines)`);

  await openReport(page, context);

  const missing = await unlabelled(page);
  assert.deepEqual(missing, [], `controls without a label: ${missing.join(', ')}`);
  ok('every control of the audit view has a label');
  if (EVENT_ID) await followEvent(page);
  problems.check();
  await context.close();
}

// "Rapport au conseil d'administration": the button opens the report in a new tab, in French,
// with its charts and its stylesheet (allowed by the page's CSP), and no recipient or event id.
async function openReport(page, context) {
  assert.ok(await page.isVisible(tid('report-section')), 'the report section is shown');
  assert.equal(await page.inputValue(tid('report-establishment')), UAI);
  const opened = context.waitForEvent('page', {timeout: TIMEOUT});
  await page.click(tid('report-open'));
  const report = await opened;
  await report.waitForURL(/^blob:/, {timeout: TIMEOUT});
  await report.waitForLoadState('load');
  await report.waitForFunction(() => document.title.startsWith('Rapport au conseil'), null,
    {timeout: TIMEOUT});
  assert.equal(await report.getAttribute('html', 'lang'), 'fr');
  const heading = await report.textContent('h1');
  assert.equal(heading, 'Rapport au conseil d\'administration');
  const colour = await report.evaluate(() => getComputedStyle(document.querySelector('h2')).color);
  assert.equal(colour, 'rgb(31, 78, 121)', 'the report\'s own stylesheet applies');
  const charts = await report.locator('svg[role="img"]').count();
  assert.ok(charts >= 1, 'the report has its charts');
  const text = await report.textContent('body');
  assert.ok(text.includes(UAI), 'the report names the establishment');
  for (const id of [...EVENT_RECIPIENTS, ...(EVENT_ID ? [EVENT_ID] : [])]) {
    assert.ok(!text.includes(id), `the report does not show ${id}`);
  }
  const status = await page.textContent(tid('report-status'));
  assert.ok(status.includes('nouvel onglet'), `the page says where the report is: "${status}"`);
  ok(`"Ouvrir le rapport" opens "${await report.title()}" with ${charts} chart(s)`);
  await report.close();
}

// "Suivre une notification", from the keyboard: the tab, both fields, Enter; one row per copy
// of the API's answer, its channel named, its state in French, no recipient's id.
async function followEvent(page) {
  await page.focus(tid('tab-audit'));
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute(tid('tab-event'), 'aria-selected'), 'true');
  await page.waitForSelector(tid('event-form'), {timeout: TIMEOUT});
  await page.click(tid('event-search'));
  assert.equal(await page.getAttribute(tid('event-source'), 'aria-invalid'), 'true', 'an empty connector is refused');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'event-source', 'the empty field has the focus');
  ok('"Suivre une notification": searching with empty fields is refused, the first one focused');

  await page.keyboard.type(EVENT_SOURCE);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'event-id', 'Tab moves to the id');
  await page.keyboard.type(EVENT_ID);
  const answer = page.waitForResponse((r) => r.url().includes('/v1/admin/events?'), {timeout: TIMEOUT});
  await page.keyboard.press('Enter');
  const r = await answer;
  const body = await r.json().catch(() => null);
  assert.equal(r.status(), 200, `GET /v1/admin/events answered ${r.status()}: ${JSON.stringify(body)}`);
  await page.waitForSelector(`${tid('event-result')}[data-state="loaded"]`, {timeout: TIMEOUT});
  const table = tid('event-table');
  const rows = await page.locator(`${table} tbody tr`).count();
  assert.equal(rows, body.deliveries.length, 'one row per copy');
  assert.ok(rows >= 2, `the notification has copies on several channels: ${JSON.stringify(body)}`);
  const channels = (await page.locator(`${table} tbody td:nth-child(3)`).allTextContents())
    .map((t) => t.replace('résumé du matin', '').trim()).sort();
  assert.deepEqual(channels, body.deliveries.map((d) => d.sink).sort(), 'the Canal column names each sink');
  const states = await page.locator(`${table} tbody td:nth-child(4)`).allTextContents();
  for (const s of states) {
    assert.ok(s && !/^[a-z_]+$/.test(s), `a state in French, not "${s}"`);
  }
  const status = await page.textContent(tid('event-status'));
  assert.equal(await page.getAttribute(tid('event-status'), 'aria-live'), 'polite');
  assert.ok(status.includes(`${rows} copies`), `the live status counts the copies: "${status}"`);
  const shown = await page.textContent(tid('panel-event'));
  for (const id of EVENT_RECIPIENTS) assert.ok(!shown.includes(id), `the recipient id ${id} is not shown`);
  ok(`${EVENT_SOURCE} / ${EVENT_ID}: ${rows} copies (${channels.join(', ')}; ${states.join(', ')}); "${status}"`);

  await page.fill(tid('event-id'), `${EVENT_ID}-inconnue`);
  await page.press(tid('event-id'), 'Enter');
  await page.waitForSelector(`${tid('event-result')}[data-state="error"]`, {state: 'attached', timeout: TIMEOUT});
  const none = await page.textContent(tid('event-status'));
  assert.ok(none.includes('Aucune notification'), `an unknown id is said so: "${none}"`);
  assert.equal(await page.locator(table).count(), 0, 'the previous table is gone');
  ok(`an unknown id: "${none}"`);

  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390 + 1, `the page still fits a phone's width (scrollWidth ${width})`);
  const missing = await unlabelled(page);
  assert.deepEqual(missing, [], `controls without a label: ${missing.join(', ')}`);
  ok('the section fits a 390 px wide screen; every control has a label');
}

// Fails on a script error, and on any request that leaves the admin listener.
function watch(page) {
  const errors = [];
  const outside = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[0-9]/.test(m.text())) errors.push(m.text());
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(BASE + '/') && !url.startsWith('blob:') && !url.startsWith('data:')) outside.push(url);
  });
  return {
    check() {
      assert.deepEqual(outside, [], `requests outside the admin listener: ${outside.join(', ')}`);
      assert.deepEqual(errors, [], `errors in the page: ${errors.join(' | ')}`);
      ok('no script error, no request outside the admin listener');
    },
  };
}

const browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true});
try {
  await adminScenario(browser);
  await auditorScenario(browser);
  console.log(`admin_page.test: all ${checks} checks passed`);
} catch (e) {
  console.error(`admin_page.test: FAILED after ${checks} checks: ${e.message}`);
  if (process.env.TREVE_TEST_VERBOSE) console.error(e.stack);
  process.exitCode = 1;
} finally {
  await browser.close();
}
