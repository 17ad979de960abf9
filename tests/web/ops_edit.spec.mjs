// End-to-end test of editing before approval on the operations page (/ops, issue 13) in
// Debian's headless chromium, driven by playwright-core. tests/it/approval_override_service.rs
// starts `aviso serve` with Freddy's forecast of 2023-03-09 00Z waiting as a proposal, and
// runs:
//
//   node tests/web/ops_edit.spec.mjs http://127.0.0.1:PORT/
//
// with AVISO_OPS_TOKEN (the duty officer: an approver, who edits), AVISO_OPS_TOKEN_2 (a
// second approver), AVISO_WEB_ARTIFACTS and AVISO_CHROMIUM. The duty officer raises a
// Zambézia district of the first proposal to red with a reason and an instruction; their
// own approval is refused on the page (four eyes); the second approver signs in and
// approves; the public API and CAP carry exactly the raised level. It prints the SMS text
// the review showed ("expected-sms: ...") for the caller to compare with the gateway's.
// Expected values come from the admin API's JSON fetched here, not from the page.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = new URL(process.argv[2] || 'http://127.0.0.1:8080/').href;
const artifacts = process.env.AVISO_WEB_ARTIFACTS || 'target/web-artifacts';
const executablePath = process.env.AVISO_CHROMIUM || '/usr/bin/chromium';
const editor = process.env.AVISO_OPS_TOKEN;
const approver = process.env.AVISO_OPS_TOKEN_2;
mkdirSync(artifacts, { recursive: true });

const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}
const admin = async (path) => {
  const r = await fetch(new URL(path, base), { headers: { Authorization: `Bearer ${editor}` } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};
const signIn = async (page, token) => {
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => !document.getElementById('queue-section').hidden);
};
const settled = (page) => page.waitForFunction(() => document.getElementById('review-result').textContent.length > 0
  || document.getElementById('review-error').textContent.length > 0);

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 }, locale: 'pt-MZ' });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(new URL('ops', base).href);

  // The duty officer signs in and reviews Freddy's first proposal.
  const listed = await admin('/api/admin/proposals');
  const first = listed.proposals.find((p) => p.status === 'Actual');
  check(Boolean(first), 'an Actual proposal waits');
  const review = await admin(`/api/admin/proposals/${first.id}`);
  const target = review.districts.find((d) => d.pcode.startsWith('MZ11') && d.level !== 'red');
  check(Boolean(target), `a Zambézia district below red (${target && target.pcode})`);
  await signIn(page, editor);
  await page.click(`#queue tr[data-id="${first.id}"] button`);
  await page.waitForFunction((n) => document.querySelectorAll('#edit-district option').length === n, review.districts.length);

  // Raise it to red with a reason and an instruction.
  await page.selectOption('#edit-district', target.pcode);
  await page.selectOption('#edit-level', 'red');
  await page.fill('#edit-reason', 'delegado distrital: cheias em curso');
  await page.fill('#edit-instruction-pt', 'Evacuem as zonas baixas de imediato.');
  await page.fill('#edit-instruction-en', 'Evacuate low-lying areas now.');
  await page.click('#edit-submit');
  await settled(page);
  check((await page.textContent('#review-error')) === '', `the edit is accepted (${await page.textContent('#review-error')})`);
  check((await page.textContent('#review-result')).startsWith('Editada'), 'the page says a new proposal was made');
  const after = await admin('/api/admin/proposals');
  const edited = after.proposals.find((p) => p.status === 'Actual');
  check(edited && edited.id !== first.id && edited.edited_by === 'duty-officer', `a new proposal edited by the duty officer (${edited && edited.id})`);
  const r2 = await admin(`/api/admin/proposals/${edited.id}`);
  const raised = r2.districts.find((d) => d.pcode === target.pcode);
  check(raised && raised.level === 'red' && raised.level_basis === 'override', 'the admin API has it red by override');
  const rows = await page.textContent('#districts tbody');
  check(rows.includes('delegado distrital: cheias em curso'), 'the review shows the override and its reason');
  check((await page.textContent('#overrides tbody')).includes(target.pcode), 'the active overrides list it');
  check((await page.textContent('#instruction')).includes('Evacuem as zonas baixas'), 'the instruction is shown');
  const sms = r2.messages.sms[0];
  check(sms && (await page.textContent('#sms-texts')).includes(sms.text), 'the exact SMS of the edited proposal is shown');
  await page.screenshot({ path: join(artifacts, 'ops-edited.png'), fullPage: true });

  // Four eyes: the duty officer may not approve their own edit.
  await page.click('#approve');
  await page.waitForFunction(() => document.getElementById('review-error').textContent.length > 0
    || document.getElementById('review-result').textContent.startsWith('Publicada'));
  const refusal = await page.textContent('#review-error');
  check(refusal.includes('403') && refusal.includes('four eyes'), `their own approval is refused on the page (${refusal})`);
  const still = await (await fetch(new URL('api/alerts', base))).json();
  check(still.count === 0, `nothing public after the refusal (${still.count})`);

  // The second approver approves it.
  await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])');
  await signIn(page, approver);
  await page.click(`#queue tr[data-id="${edited.id}"] button`);
  await page.waitForFunction((id) => document.getElementById('review-title').textContent.startsWith('Proposta ' + id), edited.id);
  await page.click('#approve');
  await page.waitForFunction(() => document.getElementById('review-result').textContent.startsWith('Publicada')
    || document.getElementById('review-error').textContent.length > 0);
  check((await page.textContent('#review-error')) === '', `the second approver's approval is accepted (${await page.textContent('#review-error')})`);
  const pub = await (await fetch(new URL('api/alerts', base))).json();
  check(pub.count === 1, `the public API lists one alert (${pub.count})`);
  const doc = await (await fetch(new URL(`api/alerts/${pub.alerts[0].id}`, base))).json();
  const d = doc.alert.districts.find((x) => x.pcode === target.pcode);
  check(d && d.level === 'red', `the public alert has ${target.pcode} red`);
  const cap = await (await fetch(new URL(`api/alerts/${pub.alerts[0].id}/cap`, base))).text();
  check(cap.includes('Evacuem as zonas baixas de imediato.'), 'the public CAP carries the instruction');
  const areas = cap.split('<area>').filter((a) => a.includes('<value>' + target.pcode + '</value>'));
  check(areas.length === 2 && areas.every((a) => /<areaDesc>(Nível vermelho|Level red)/.test(a)),
    `the public CAP puts ${target.pcode} in the red area of both infos`);
  await page.screenshot({ path: join(artifacts, 'ops-edit-approved.png'), fullPage: true });
  check(errors.length === 0, `no script error (${errors.join('; ')})`);
  console.log('expected-sms: ' + JSON.stringify(sms.text));
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
