// End-to-end test of a Cancel sent by hand on the operations page (/ops, issue 13 §3) in
// Debian's headless chromium, driven by playwright-core. tests/it/approval_hand_service.rs
// starts `aviso serve` with Freddy's forecast of 2023-03-09 00Z waiting as a proposal, and
// runs:
//
//   node tests/web/ops_hand.spec.mjs http://127.0.0.1:PORT/
//
// with AVISO_OPS_TOKEN (the duty officer, an approver), AVISO_OPS_TOKEN_2 (a second
// approver), AVISO_WEB_ARTIFACTS and AVISO_CHROMIUM. The duty officer approves the first
// proposal and the review then says what was queued for the published version (not "0
// mensagens"); they open the alert in force, propose its Cancel with a reason in pt and en,
// see the review of the Cancel and their own approval refused (four eyes); the second
// approver approves it and the public API has no alert in force. It prints the Cancel's
// SMS as the review showed it ("expected-sms: ...") for the caller to compare with the
// gateway's. Expected values come from the admin API's JSON fetched here.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = new URL(process.argv[2] || 'http://127.0.0.1:8080/').href;
const artifacts = process.env.AVISO_WEB_ARTIFACTS || 'target/web-artifacts';
const executablePath = process.env.AVISO_CHROMIUM || '/usr/bin/chromium';
const officer = process.env.AVISO_OPS_TOKEN;
const approver = process.env.AVISO_OPS_TOKEN_2;
mkdirSync(artifacts, { recursive: true });

const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}
const admin = async (path) => {
  const r = await fetch(new URL(path, base), { headers: { Authorization: `Bearer ${officer}` } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};
const signIn = async (page, token) => {
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForFunction(() => !document.getElementById('queue-section').hidden);
};
const decided = (page, prefix) => page.waitForFunction((p) => document.getElementById('review-result').textContent.startsWith(p)
  || document.getElementById('review-error').textContent.length > 0, prefix);

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 }, locale: 'pt-MZ' });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(new URL('ops', base).href);

  // The duty officer approves Freddy's first proposal.
  const first = (await admin('/api/admin/proposals')).proposals.find((p) => p.status === 'Actual');
  check(Boolean(first), 'an Actual proposal waits');
  await signIn(page, officer);
  await page.click(`#queue tr[data-id="${first.id}"] button`);
  await page.waitForFunction((id) => document.getElementById('review-title').textContent.startsWith('Proposta ' + id), first.id);
  await page.click('#approve');
  await decided(page, 'Publicada');
  check((await page.textContent('#review-error')) === '', `the approval is accepted (${await page.textContent('#review-error')})`);
  const published = await admin(`/api/admin/proposals/${first.id}`);
  const summary = await page.textContent('#messages-summary');
  check(published.messages.published === true && published.messages.total === 2,
    `the admin API says two messages were queued for the published version (${published.messages.total})`);
  check(summary.startsWith('Publicada: 2 mensagens') && !summary.startsWith('0 mensagens'),
    `after approval the review says what was queued, not "0 mensagens" (${summary})`);
  check((await page.textContent('#messages-title')).includes(published.alert.id), 'the heading names the published version');

  // The alert in force: the officer proposes its Cancel with a reason in both languages.
  const live = (await (await fetch(new URL('api/alerts', base))).json()).alerts[0];
  await page.waitForSelector(`#events tr[data-alert="${live.id}"] button`);
  await page.click(`#events tr[data-alert="${live.id}"] button`);
  await page.click('#hand-cancel');
  await page.waitForFunction(() => document.getElementById('event-error').textContent.length > 0);
  check((await page.textContent('#event-error')).includes('reason_pt'), 'a Cancel without a reason is refused, naming reason_pt');
  await page.fill('#hand-pt', 'O FREDDY afastou-se da costa');
  await page.fill('#hand-en', 'FREDDY moved away from the coast');
  await page.click('#hand-cancel');
  await page.waitForFunction(() => document.getElementById('event-result').textContent.startsWith('Proposta')
    || document.getElementById('event-error').textContent.length > 0);
  check((await page.textContent('#event-error')) === '', `the Cancel is proposed (${await page.textContent('#event-error')})`);
  const cancel = (await admin('/api/admin/proposals')).proposals.find((p) => p.msg_type === 'Cancel');
  check(cancel && cancel.edited_by === 'duty-officer', `a Cancel proposal made by the duty officer (${cancel && cancel.id})`);
  const review = await admin(`/api/admin/proposals/${cancel.id}`);
  const sms = review.messages.sms[0];
  check((await page.textContent('#review-title')).includes('Cancelamento'), 'the review of the Cancel is shown');
  check(sms && (await page.textContent('#sms-texts')).includes(sms.text), 'the exact all-clear SMS is shown');
  check((await page.textContent('#instruction')).includes('O FREDDY afastou-se da costa'), 'the review shows the reason');
  check(await page.isHidden('#edit-form'), 'a Cancel offers no level edit');
  await page.screenshot({ path: join(artifacts, 'ops-hand-cancel.png'), fullPage: true });

  // Four eyes: not their own; the second approver approves.
  await page.click('#approve');
  await decided(page, 'Publicada');
  const refusal = await page.textContent('#review-error');
  check(refusal.includes('403') && refusal.includes('four eyes'), `their own approval is refused (${refusal})`);
  await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])');
  await signIn(page, approver);
  await page.click(`#queue tr[data-id="${cancel.id}"] button`);
  await page.waitForFunction((id) => document.getElementById('review-title').textContent.startsWith('Proposta ' + id), cancel.id);
  await page.click('#approve');
  await decided(page, 'Publicada');
  check((await page.textContent('#review-error')) === '', `the second approver's approval is accepted (${await page.textContent('#review-error')})`);
  const pub = await (await fetch(new URL('api/alerts', base))).json();
  check(pub.count === 0, `no alert in force any more (${pub.count})`);
  await page.waitForFunction((id) => !document.querySelector(`#events tr[data-alert="${id}"]`), live.id);
  check(true, 'the alert left the table of alerts in force');
  await page.screenshot({ path: join(artifacts, 'ops-hand-cancelled.png'), fullPage: true });
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
