// End-to-end test of aviso's operations page (/ops, issue 13) in Debian's headless
// chromium, driven by playwright-core. tests/it/approval_service.rs starts `aviso serve`
// with Freddy's forecast of 2023-03-09 00Z waiting as a proposal, and runs:
//
//   node tests/web/ops.spec.mjs http://127.0.0.1:PORT/
//
// with AVISO_OPS_TOKEN (an approver's token), AVISO_OPS_BAD_TOKEN (a token that is not
// one), AVISO_WEB_ARTIFACTS (screenshot folder) and AVISO_CHROMIUM. It signs in, reviews
// the first proposal, approves it and checks the public API lists exactly that version.
// Expected values come from the admin API's JSON fetched here, not from the page.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = new URL(process.argv[2] || 'http://127.0.0.1:8080/').href;
const artifacts = process.env.AVISO_WEB_ARTIFACTS || 'target/web-artifacts';
const executablePath = process.env.AVISO_CHROMIUM || '/usr/bin/chromium';
const token = process.env.AVISO_OPS_TOKEN;
const bad = process.env.AVISO_OPS_BAD_TOKEN || 'not-a-token';
mkdirSync(artifacts, { recursive: true });

const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}
const admin = async (path) => {
  const r = await fetch(new URL(path, base), { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: 'pt-MZ' });
  const offsite = [];
  page.on('request', (r) => {
    const h = new URL(r.url()).hostname;
    if (!['127.0.0.1', 'localhost'].includes(h)) offsite.push(r.url());
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(new URL('ops', base).href);
  check((await page.title()).includes('operações'), 'the page is in Portuguese');

  // A wrong token is refused, and the page says so.
  await page.fill('#token', bad);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  check((await page.textContent('#signin-error')).includes('401'), 'a wrong token is refused (401)');

  // Sign in: the queue shows the proposal the admin API lists.
  const listed = await admin('/api/admin/proposals');
  const actual = listed.proposals.filter((p) => p.status === 'Actual');
  check(actual.length === 1, `one Actual proposal waits (${actual.length})`);
  const id = actual[0].id;
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector(`#queue tr[data-id="${id}"]`);
  check((await page.textContent('#who')).includes('duty-officer'), 'signed in as the duty officer');

  // Review: the districts and messages the admin API gives.
  const review = await admin(`/api/admin/proposals/${id}`);
  await page.click(`#queue tr[data-id="${id}"] button`);
  await page.waitForFunction((n) => document.querySelectorAll('#districts tbody tr').length === n, review.districts.length);
  check(true, `the review lists the ${review.districts.length} districts of the proposal`);
  const quelimane = review.districts.find((d) => d.pcode === 'MZ1103');
  if (quelimane) {
    const row = await page.textContent('#districts tbody');
    check(row.includes('MZ1103'), 'Quelimane (MZ1103) is in the review');
  }
  const sms = review.messages.sms[0];
  const listedSms = await page.textContent('#sms-texts');
  check(sms && listedSms.includes(sms.text), 'the exact SMS text is shown');
  check(listedSms.includes(`${sms.count.segments} segmento`), 'with its segment count');
  await page.screenshot({ path: join(artifacts, 'ops-review.png'), fullPage: true });

  // Approve: the page says it is published, and the public API lists exactly it.
  await page.fill('#note', 'revisto no /ops');
  await page.click('#approve');
  await page.waitForFunction(() => document.getElementById('review-result').textContent.startsWith('Publicada')
    || document.getElementById('review-error').textContent.length > 0);
  const refusal = await page.textContent('#review-error');
  check(refusal === '', `the approval is accepted (${refusal})`);
  const result = await page.textContent('#review-result');
  const publicList = await (await fetch(new URL('api/alerts', base))).json();
  check(publicList.count === 1, `the public API lists one alert (${publicList.count})`);
  check(result.includes(publicList.alerts[0].id), 'the one the page published');
  await page.waitForFunction(() => [...document.querySelectorAll('#audit tbody td')].some((td) => td.textContent === 'approved'));
  check(true, 'the audit trail on the page shows the approval');
  await page.screenshot({ path: join(artifacts, 'ops-approved.png'), fullPage: true });
  check(offsite.length === 0, `nothing fetched beyond localhost (${offsite.join(', ')})`);
  check(errors.length === 0, `no script error (${errors.join('; ')})`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
