// End-to-end test of aviso's alert map in Debian's headless chromium, driven by
// playwright-core. tests/web_map.rs starts `aviso serve --demo` (Freddy's March 2023 best
// track replayed as a live feed: an Alert, Updates, then a Cancel, within about a minute;
// beside it the real river-station flood forecast of 2025-09-25, one Alert that stays)
// and runs:
//
//   node tests/web/map.spec.mjs http://127.0.0.1:PORT/
//
// The flood checks (flood.mjs) run in a second browser context at the same time as the
// Freddy checks, while both events are active.
//
// Environment: AVISO_WEB_ARTIFACTS (screenshot folder, default target/web-artifacts),
// AVISO_CHROMIUM (default /usr/bin/chromium), AVISO_FLOOD_DATA (the folder of the flood
// CSVs, default ../shared/data/floods), AVISO_DOCS_SCREENSHOT and
// AVISO_DOCS_FLOOD_SCREENSHOT (also write the Portuguese Freddy and flood screenshots
// there, for the README).
//
// Expected values come from the API's JSON (fetched here, not read off the page) and from
// facts known independently of the page: Quelimane city (MZ1103) is red once Freddy's
// second landfall is forecast (the assess table in README.md), a number is grouped by
// thousands with a space in Portuguese and a comma in English.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { floodChecks } from './flood.mjs';

const base = new URL(process.argv[2] || 'http://127.0.0.1:8080/').href;
const artifacts = process.env.AVISO_WEB_ARTIFACTS || 'target/web-artifacts';
const executablePath = process.env.AVISO_CHROMIUM || '/usr/bin/chromium';
const floodData = process.env.AVISO_FLOOD_DATA || '../shared/data/floods';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const QUELIMANE = 'MZ1103';
/** The README's demo forecast: the version nearest this reference time is pictured. */
const PICTURED = Date.parse('2023-03-10T00:00:00Z');
mkdirSync(artifacts, { recursive: true });

const started = Date.now();
const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const api = async (path) => {
  const r = await fetch(new URL(path, base), { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};
async function waitFor(what, limitMs, probe) {
  const t0 = Date.now();
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up after ${limitMs / 1000} s waiting for ${what}`);
    await sleep(500);
  }
}
/** "445140" -> /445[ .]140/ (pt) or /445,140/ (en): thousands grouping per language. */
function groupedRegex(n, lang) {
  const digits = String(Math.round(n));
  const groups = [];
  for (let i = digits.length; i > 0; i -= 3) groups.unshift(digits.slice(Math.max(0, i - 3), i));
  const sep = lang === 'pt' ? '[\\s\\u00a0\\u202f.]' : ',';
  return new RegExp('(^|[^\\d,.])' + groups.join(sep) + '($|[^\\d])');
}
/** Is lon/lat inside a (Multi)Polygon (even-odd rule over all rings)? */
function inside(geom, [x, y]) {
  const polys = geom.type === 'Polygon' ? [geom.coordinates] : geom.coordinates;
  let c = false;
  for (const rings of polys) for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
  }
  return c;
}
/** A point well inside the district and far from every clickable point of the alert, so
 *  the click lands on the district itself. */
function clickablePoint(geom, avoid) {
  let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
  const polys = geom.type === 'Polygon' ? [geom.coordinates] : geom.coordinates;
  for (const rings of polys) for (const [x, y] of rings[0]) {
    minx = Math.min(minx, x); maxx = Math.max(maxx, x); miny = Math.min(miny, y); maxy = Math.max(maxy, y);
  }
  let best = null, bestD = -1;
  const n = 40;
  for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
    const p = [minx + ((maxx - minx) * i) / n, miny + ((maxy - miny) * j) / n];
    if (!inside(geom, p)) continue;
    let d = Infinity;
    for (const q of avoid) d = Math.min(d, Math.hypot(p[0] - q[0], p[1] - q[1]));
    for (const rings of polys) for (const [x, y] of rings[0]) d = Math.min(d, Math.hypot(p[0] - x, p[1] - y));
    if (d > bestD) { bestD = d; best = p; }
  }
  return best;
}
const districtsOf = (doc) => new Map(doc.features.filter((f) => f.properties.layer === 'district').map((f) => [f.properties.pcode, f]));

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
});
try {
  // The browser's own time zone is UTC: the page must still show Maputo time (CAT).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'pt-PT', timezoneId: 'UTC', acceptDownloads: true });
  const external = [];
  const errors = [];
  const bad = [];
  const watch = (page) => {
    page.on('request', (r) => {
      const u = new URL(r.url());
      if ((u.protocol === 'http:' || u.protocol === 'https:') && !LOCAL_HOSTS.has(u.hostname)) external.push(r.url());
    });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text() + ' ' + JSON.stringify(m.location())); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('response', (r) => { if (r.status() >= 400) bad.push(r.status() + ' ' + r.url()); });
  };
  // The flood part, in its own context, beside the Freddy part below.
  const floodDone = floodChecks(browser, base, floodData, { check, api, waitFor, watch, artifacts })
    .catch((e) => { failures.push('flood: ' + String((e && e.stack) || e)); console.log('FAIL flood: ' + ((e && e.stack) || e)); });
  const page = await context.newPage();
  watch(page);
  const fillsOnPage = async (p) => new Map((await p.$$eval('path.district', (ps) => ps.map((e) => [e.getAttribute('class'), e.getAttribute('fill')])))
    .map(([cls, fill]) => [(cls.match(/\bd-(\S+)/) || [])[1], (fill || '').toLowerCase()]));
  const shownId = () => page.getAttribute('body', 'data-alert-id');
  const poll = () => page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));

  // --- the demo's first issuance, then the page as a browser loads it (Accept: text/html at /)
  const first = await waitFor('the demo to publish Freddy', 120000, async () =>
    ((await api('api/alerts?include_tests=true')).alerts || []).find((a) => a.event_name === 'FREDDY'));
  const eventId = first.event_id;
  const t0 = Date.now();
  const resp = await page.goto(base, { waitUntil: 'domcontentloaded' });
  check(resp.headers()['content-type'].startsWith('text/html'), 'GET / with a browser Accept header serves the HTML map');
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  // The page opens on the highest level; early on that may be the demo's flood (yellow).
  if (await page.getAttribute(`#events button[data-event="${eventId}"]`, 'aria-pressed') !== 'true') {
    await page.click(`#events button[data-event="${eventId}"]`);
  }
  await page.waitForSelector(`#events button[data-event="${eventId}"][aria-pressed="true"]`, { timeout: 10000 });
  console.log(`page ready on Freddy in ${Date.now() - t0} ms`);
  check(await page.getAttribute('html', 'lang') === 'pt', 'the page starts in Portuguese');
  check((await page.textContent('#events')).includes(first.status === 'Exercise' ? 'EXERCÍCIO' : 'FREDDY'),
    'the demo event is listed, labelled as an exercise');

  // --- new issuances arrive without a reload: the tab coming back into view polls at once
  const opened = await shownId();
  await page.evaluate(() => { window.__sameDocument = true; });
  let moved = null;
  for (let i = 0; i < 90 && !moved; i++) {
    await poll();
    await sleep(1000);
    const now = await shownId();
    if (now && now !== opened) moved = now;
  }
  check(!!moved, `the page moved on from ${opened} to a newer issuance (${moved}) by itself`);
  check(await page.evaluate(() => window.__sameDocument === true), '... without reloading the page');
  // The status line is written once the new version's panel is drawn, a moment after the
  // alert id changes: wait for it rather than read it at once.
  const announced = await page.waitForFunction(
    () => /Nova emissão/.test(document.getElementById('status').textContent), null, { timeout: 10000 },
  ).then(() => true, () => false);
  check(announced, `the status line announces the new issuance (${await page.textContent('#status')})`);
  // A later poll (no new version, or a newer one) must not wipe the announcement.
  await poll();
  await sleep(1000);
  check(/Nova emissão/.test(await page.textContent('#status')),
    `... and it stays announced after the next poll (${await page.textContent('#status')})`);

  // --- the README picture: the live page once it reaches the forecast of 10 March 00 UTC
  // (Quelimane red, landfall a day and a half ahead), the event still active.
  let live = null;
  for (let i = 0; i < 180 && !live; i++) {
    await poll();
    await sleep(1000);
    const id = await shownId();
    const ev = await api('api/events/' + encodeURIComponent(eventId));
    const v = ev.versions.find((x) => x.id === id);
    if (v && v.msg_type === 'Cancel') break;
    if (v && Date.parse(v.reference_time) >= PICTURED - 6 * 3600e3 &&
      v.districts.some((d) => d.pcode === QUELIMANE && d.level === 'red')) live = v;
  }
  check(!!live, `the live page reached a version near 10 March 00 UTC with ${QUELIMANE} red (${live && 'v' + live.version})`);
  await page.waitForSelector('body[data-state="ready"]');
  await page.screenshot({ path: join(artifacts, 'map-live.png') });
  if (live && process.env.AVISO_DOCS_SCREENSHOT) await page.screenshot({ path: process.env.AVISO_DOCS_SCREENSHOT });

  // --- the demo ends with a Cancel; the page follows the event to it
  const final = await waitFor('the demo to cancel Freddy', 240000, async () => {
    const ev = await api('api/events/' + encodeURIComponent(eventId));
    const last = ev.versions[ev.versions.length - 1];
    return last.msg_type === 'Cancel' ? ev : null;
  });
  const versions = final.versions;
  const cancel = versions[versions.length - 1];
  await poll();
  await page.waitForSelector(`body[data-alert-id="${cancel.id}"][data-state="ready"]`, { timeout: 15000 }).catch(() => null);
  check(await shownId() === cancel.id, `after the Cancel (v${cancel.version}) the page shows it`);
  check((await page.textContent('#issuance')).includes('Alerta cancelado'), 'the panel says the alert is cancelled');
  const levelColours = new Set(['#4caf50', '#ffd600', '#ff8f00', '#d50000']);
  check([...(await fillsOnPage(page)).values()].every((c) => !levelColours.has(c)), 'and no district keeps a level colour');
  const stillListed = await page.$$eval('#events button', (bs) => bs.map((b) => b.dataset.event));
  check(!stillListed.includes(eventId) && stillListed.some((e) => e.includes('flood')),
    `the active list no longer holds Freddy, and still holds the flood (${stillListed.join(', ')})`);
  await page.screenshot({ path: join(artifacts, 'cancelled.png') });

  // --- choose the version of the README picture on the timeline
  const chooseVersion = async (id) => {
    const idx = versions.findIndex((v) => v.id === id);
    if (await page.locator('#timeline-range').count()) {
      await page.locator('#timeline-range').evaluate((e, i) => { e.value = String(i); e.dispatchEvent(new Event('change')); }, idx);
    } else {
      await page.click(`#timeline button[data-alert="${id}"]`);
    }
    await page.waitForSelector(`body[data-alert-id="${id}"][data-state="ready"]`, { timeout: 30000 });
  };
  const reds = versions.filter((v) => v.districts.some((d) => d.pcode === QUELIMANE && d.level === 'red'));
  check(reds.length > 0, `some Freddy versions have ${QUELIMANE} (Quelimane) red (${reds.map((v) => 'v' + v.version).join(' ')})`);
  const pictured = reds.reduce((a, b) => (Math.abs(Date.parse(b.reference_time) - PICTURED) < Math.abs(Date.parse(a.reference_time) - PICTURED) ? b : a));
  await chooseVersion(pictured.id);
  const doc = await api('api/alerts/' + encodeURIComponent(pictured.id));
  const districts = districtsOf(doc);
  const quelimane = districts.get(QUELIMANE);

  // --- districts coloured by level, as the document says
  const fillOf = await fillsOnPage(page);
  check(fillOf.size === 159, `159 districts drawn (found ${fillOf.size})`);
  let wrong = [];
  for (const [pcode, f] of districts) {
    const p = f.properties;
    if (p.level && fillOf.get(pcode) !== p.level_colour.toLowerCase()) wrong.push(`${pcode} ${p.level}: ${fillOf.get(pcode)}`);
  }
  check(wrong.length === 0, `v${pictured.version}: every district with a level has its level's colour (${districts.size} checked) ${wrong.slice(0, 5).join(', ')}`);
  check(fillOf.get(QUELIMANE) === '#d50000', `${QUELIMANE} (Quelimane) is drawn red #d50000 (found ${fillOf.get(QUELIMANE)})`);
  const docColours = new Set([...districts.values()].map((f) => f.properties.level_colour.toLowerCase()));
  const outside = [...fillOf].filter(([pc]) => !districts.has(pc));
  check(outside.length > 0 && outside.every(([, fill]) => !docColours.has(fill)), 'districts outside the alert have no level colour');
  check(await page.locator('path.swath').count() > 0 && await page.locator('path.cone').count() === 1, 'wind swaths and the cone are drawn');
  const forecastPoints = doc.features.filter((f) => f.properties.layer === 'track_point' && f.properties.kind === 'forecast').length;
  check(await page.locator('.leaflet-tooltip.track-label').count() === forecastPoints, `every forecast point has a label (${forecastPoints})`);
  check(/CAT/.test(await page.locator('.leaflet-tooltip.track-label').first().textContent()), 'track labels give Maputo time (CAT)');
  check((await page.textContent('#districts-section h2')).trim() === 'Distritos em risco', 'the districts table is titled "Distritos em risco"');
  const reason = doc.aviso.trigger.reason;
  const triggerPt = await page.textContent('#trigger');
  check(!triggerPt.includes(reason) && (!/^exposed area/.test(reason) || /área exposta sobre/.test(triggerPt)),
    `the AA trigger's reason is in Portuguese (${triggerPt.trim()})`);
  await page.screenshot({ path: join(artifacts, 'map-pt.png') });

  // --- issue 12: the probability view beside the official track's, and the probability
  // columns of the districts table, against the version's stored probabilistic part
  const prob = doc.aviso.probabilistic;
  check(!!prob && prob.status === 'ok', `v${pictured.version} carries a probabilistic assessment (${prob && prob.status})`);
  if (prob && prob.status === 'ok') {
    const head = await page.textContent('#districts-table thead');
    check(head.includes('P ≥34 nós 72 h') && head.includes('P ≥64 nós 72 h'), 'the districts table has the P(≥34 kt) and P(≥64 kt) within 72 h columns');
    // The last two cells of the district's row: P(≥34 kt) and P(≥64 kt) within 72 h, in %.
    const pctOf = (x) => new RegExp('^' + Math.round(x * 100) + '[\\s\\u00a0\\u202f]%$');
    const cells = await page.$$eval(`#districts-table tbody tr[data-id="${QUELIMANE}"] td`, (tds) => tds.map((td) => td.textContent.trim()));
    const q34 = quelimane.properties.p_ge34kt_0_72h, q64 = quelimane.properties.p_ge64kt_0_72h;
    check(cells.length >= 2 && pctOf(q34).test(cells[cells.length - 2]) && pctOf(q64).test(cells[cells.length - 1]),
      `${QUELIMANE}'s row shows its stored P34 ${q34} and P64 ${q64} within 72 h (${cells.join(' | ')})`);
    const contoursOf = (kt, h) => doc.features.filter((f) => f.properties.layer === 'probability_contour' && f.properties.threshold_kt === kt && f.properties.window_h === h);
    check(await page.locator('path.prob-contour').count() === 0, 'the official-track view draws no probability contour');
    await page.check('#view-prob');
    await page.waitForSelector('#prob-kt', { timeout: 5000 });
    const want34 = contoursOf(34, 120);
    check(await page.locator('path.prob-contour').count() === want34.length && want34.length > 0,
      `the probability view draws the ${want34.length} contours of P(≥34 kt within 120 h)`);
    check(await page.locator('path.swath').count() === 0 && await page.locator('path.cone').count() === 0, '... and hides the official swaths and cone');
    const legend = await page.textContent('#legend');
    check(legend.includes('P(ventos ≥ 34 nós em 0–120 h)') && legend.includes('≥ 90 %') && legend.includes('realizações'), `the legend explains the contours (${legend})`);
    await page.selectOption('#prob-kt', '64');
    await page.selectOption('#prob-h', '72');
    const want64 = contoursOf(64, 72);
    check(await page.locator('path.prob-contour').count() === want64.length, `choosing 64 kt within 72 h draws its ${want64.length} contours`);
    const fills = await page.$$eval('path.prob-contour', (ps) => ps.map((e) => [e.getAttribute('class'), (e.getAttribute('fill') || '').toLowerCase()]));
    const blues = { 10: '#c6dbef', 30: '#6baed6', 50: '#2171b5', 70: '#08519c', 90: '#08306b' };
    check(fills.every(([cls, fill]) => blues[(cls.match(/prob-(\d+)/) || [])[1]] === fill), 'each contour has its level\'s colour');
    await page.screenshot({ path: join(artifacts, 'map-prob-pt.png') });
    await page.selectOption('#prob-kt', '34');
    await page.selectOption('#prob-h', '120');
    await page.screenshot({ path: join(artifacts, 'map-prob34-pt.png') });
    await page.check('#view-det');
    check(await page.locator('path.prob-contour').count() === 0 && await page.locator('path.swath').count() > 0, 'back on the official track: swaths again, no contours');
  }

  // --- clicking a district shows its people at risk
  const avoid = doc.features.filter((f) => f.geometry && f.geometry.type === 'Point').map((f) => f.geometry.coordinates);
  const clickDistrict = async (pcode) => {
    const [lon, lat] = clickablePoint(districts.get(pcode).geometry, avoid);
    const xy = await page.evaluate(([la, lo, pc]) => {
      const m = window.aviso.map;
      m.closePopup();
      m.fitBounds(window.aviso.state.districtLayers.get(pc).getBounds(), { animate: false });
      const p = m.latLngToContainerPoint([la, lo]);
      const r = m.getContainer().getBoundingClientRect();
      return [r.left + p.x, r.top + p.y];
    }, [lat, lon, pcode]);
    await sleep(300); // let Leaflet redraw after the zoom
    await page.mouse.click(xy[0], xy[1]);
    await page.waitForSelector('.leaflet-popup-content', { timeout: 5000 });
    return page.locator('.leaflet-popup-content').innerText();
  };
  const par = quelimane.properties.people_at_risk;
  let popup = await clickDistrict(QUELIMANE);
  check(popup.includes(quelimane.properties.name), `clicking ${QUELIMANE} opens its popup (${quelimane.properties.name})`);
  check(groupedRegex(par, 'pt').test(popup), `the popup shows its ${par} people at risk, grouped the Portuguese way`);
  check(/Pessoas em risco/.test(popup) && /vermelho/.test(popup), 'the popup labels are Portuguese (Pessoas em risco, vermelho)');
  check(popup.includes('Porquê este nível') && popup.includes(quelimane.properties.level_reason_pt),
    `the popup says which rule set the level (${quelimane.properties.level_reason_pt})`);
  await page.screenshot({ path: join(artifacts, 'district-popup-pt.png') });

  // --- CSV of the districts table, built in the page; GeoJSON and CAP links
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-csv-districts')]);
  const csv = readFileSync(await download.path(), 'utf8');
  const row = csv.split(/\r\n/).find((l) => l.startsWith(QUELIMANE + ','));
  check(!!row && row.split(',').includes(String(par)), `the districts CSV has ${QUELIMANE} with ${par} people at risk`);
  const rowsWithLevel = [...districts.values()].filter((f) => f.properties.level).length;
  check(csv.trim().split(/\r\n/).length === rowsWithLevel + 1, `the districts CSV has one row per district with a level (${rowsWithLevel})`);
  const geojsonHref = new URL(await page.getAttribute('#dl-geojson', 'href'), base);
  const capHref = new URL(await page.getAttribute('#dl-cap', 'href'), base);
  check(geojsonHref.pathname === `/api/alerts/${pictured.id}` && capHref.pathname === `/api/alerts/${pictured.id}/cap`,
    'GeoJSON and CAP links point at this issuance');
  const capText = await (await fetch(capHref)).text();
  check(capText.includes(`<identifier>${pictured.id}</identifier>`), 'the CAP link serves that version\'s CAP 1.2');
  // The contingency plan of this cyclone version (issue 14), in the page's language.
  const planHref = new URL(await page.getAttribute('#dl-plan', 'href'), base);
  check(planHref.pathname === `/api/alerts/${pictured.id}/plan` && planHref.searchParams.get('lang') === 'pt',
    'the contingency-plan link points at this issuance, in Portuguese');
  const planPage = await fetch(planHref);
  const planText = await planPage.text();
  check(planPage.status === 200 && planText.includes('Plano de acolhimento') && planText.includes(pictured.id),
    'the contingency-plan link serves the sheet of that version');

  // --- the language toggle
  await page.click('#lang');
  check(await page.getAttribute('html', 'lang') === 'en', 'the toggle switches the page to English');
  check((await page.textContent('#districts-section h2')).trim() === 'Districts at risk', 'the districts table is now titled "Districts at risk"');
  check((await page.textContent('#districts-table thead')).includes('People at risk'), 'table headers are English');
  check((await page.textContent('#trigger')).includes(reason), 'the AA trigger\'s reason is shown in English as the document writes it');
  popup = await clickDistrict(QUELIMANE);
  check(groupedRegex(par, 'en').test(popup) && /People at risk/.test(popup) && /\bred\b/.test(popup),
    `in English the popup shows ${par} as ${par.toLocaleString('en-GB')} with English labels`);
  check(popup.includes('Why this level') && popup.includes(quelimane.properties.level_reason_en),
    `and says in English which rule set the level (${quelimane.properties.level_reason_en})`);
  await page.screenshot({ path: join(artifacts, 'map-en.png') });
  await page.click('#lang');
  check(await page.getAttribute('html', 'lang') === 'pt', 'and back to Portuguese');

  // --- the timeline switches issuance
  const v1 = versions[0];
  await chooseVersion(v1.id);
  const fills1 = await fillsOnPage(page);
  const levels1 = new Map([...districtsOf(await api('api/alerts/' + encodeURIComponent(v1.id)))]
    .filter(([, f]) => f.properties.level).map(([pc, f]) => [pc, f.properties.level_colour.toLowerCase()]));
  wrong = [...levels1].filter(([pc, c]) => fills1.get(pc) !== c);
  check(wrong.length === 0, `after choosing v${v1.version} every district has that issuance's colour (${levels1.size} checked)`);
  const differs = [...fillOf].filter(([pc, c]) => fills1.get(pc) !== c).length;
  check(differs > 0, `v${v1.version} and v${pictured.version} colour ${differs} districts differently`);
  check((await page.textContent('#issuance')).includes('v' + v1.version), `the panel shows version ${v1.version}`);
  await page.screenshot({ path: join(artifacts, `timeline-v${v1.version}.png`) });

  // --- a phone screen, opened on a link to one version
  const phone = await context.newPage();
  watch(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(base + '?event=' + encodeURIComponent(eventId) + '&alert=' + encodeURIComponent(pictured.id));
  await phone.waitForSelector(`body[data-alert-id="${pictured.id}"][data-state="ready"]`, { timeout: 60000 });
  check(true, `a link to v${pictured.version} opens that version`);
  const mapBox = await phone.locator('#map').boundingBox();
  const panelBox = await phone.locator('#panel').boundingBox();
  check(panelBox.y >= mapBox.y + mapBox.height - 1 && mapBox.width <= 390, 'on a phone the panel sits under a full-width map');
  const overflow = await phone.evaluate(() => document.scrollingElement.scrollWidth);
  check(overflow <= 390, `nothing overflows a 390 px wide screen (${overflow} px)`);
  await phone.screenshot({ path: join(artifacts, 'map-phone.png') });

  // --- every trigger reason of the replay has a Portuguese text (a new wording in
  // src/alerts/trigger.rs must be added to the page's table)
  const reasons = new Map();
  for (const v of versions) {
    const tr = (await api('api/alerts/' + encodeURIComponent(v.id))).aviso.trigger;
    if (tr) reasons.set(tr.reason, tr);
  }
  const unknown = [];
  for (const [r, tr] of reasons) {
    const pt = await page.evaluate((x) => window.aviso.triggerReason(x, 'pt'), tr);
    if (!pt.known || pt.text.includes(r)) unknown.push(r);
  }
  check(reasons.size > 1 && unknown.length === 0, `all ${reasons.size} trigger reasons of the replay are translated ${unknown.slice(0, 2).join(' | ')}`);

  await floodDone;
  // --- only localhost, no errors
  check(external.length === 0, `no request left localhost ${external.slice(0, 3).join(' ')}`);
  check(errors.length === 0, `no console or page errors ${errors.slice(0, 3).join(' | ')}`);
  check(bad.length === 0, `no failed HTTP responses ${bad.slice(0, 3).join(' ')}`);
} catch (e) {
  failures.push(String((e && e.stack) || e));
  console.log('FAIL ' + ((e && e.stack) || e));
} finally {
  await browser.close();
}
console.log(`map.spec: ${failures.length ? failures.length + ' failure(s)' : 'all checks passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${artifacts}`);
process.exit(failures.length ? 1 : 0);
