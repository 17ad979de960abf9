// End-to-end test of aviso's alert map in Debian's headless chromium, driven by
// playwright-core. Run by tests/web_map.rs against a live aviso server:
//
//   node tests/web/map.spec.mjs http://127.0.0.1:PORT/
//
// Environment: AVISO_WEB_ARTIFACTS (screenshot folder, default target/web-artifacts),
// AVISO_CHROMIUM (default /usr/bin/chromium), AVISO_DOCS_SCREENSHOT (also write the
// Portuguese map screenshot there, for the README), AVISO_WEB_MIN_VERSIONS (fail unless the
// Freddy event has at least that many issuances; default 2), AVISO_WEB_SIGNAL_DIR (the
// spec prints READY_FOR_NEW_ISSUANCE, waits for the harness to publish the next Freddy
// version and create `published` in that folder, then checks the open page shows it).
//
// Expected values come from the API's JSON (fetched here, not read off the page) and from
// facts known independently of the page: Quelimane city (MZ1103) is red for the Freddy
// forecast of 2023-03-10 (the assess table in README.md), a number is grouped by thousands
// with a space in Portuguese and a comma in English.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = new URL(process.argv[2] || 'http://127.0.0.1:8080/').href;
const artifacts = process.env.AVISO_WEB_ARTIFACTS || 'target/web-artifacts';
const executablePath = process.env.AVISO_CHROMIUM || '/usr/bin/chromium';
const minVersions = Number(process.env.AVISO_WEB_MIN_VERSIONS || 2);
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const QUELIMANE = 'MZ1103';
mkdirSync(artifacts, { recursive: true });

const started = Date.now();
const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}
const api = async (path) => {
  const r = await fetch(new URL(path, base), { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};
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
    // Distance to the nearest thing to avoid and to the boundary (sampled).
    let d = Infinity;
    for (const q of avoid) d = Math.min(d, Math.hypot(p[0] - q[0], p[1] - q[1]));
    for (const rings of polys) for (const [x, y] of rings[0]) d = Math.min(d, Math.hypot(p[0] - x, p[1] - y));
    if (d > bestD) { bestD = d; best = p; }
  }
  return best;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
});
try {
  // The browser's own time zone is UTC: the page must still show Maputo time (CAT).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'pt-PT', timezoneId: 'UTC', acceptDownloads: true });
  const page = await context.newPage();
  const external = [];
  const errors = [];
  const bad = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if ((u.protocol === 'http:' || u.protocol === 'https:') && !LOCAL_HOSTS.has(u.hostname)) external.push(r.url());
  });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text() + ' ' + JSON.stringify(m.location())); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) bad.push(r.status() + ' ' + r.url());
  });

  // --- the data, read from the API independently of the page
  const active = await api('api/alerts');
  const freddy = (active.alerts || []).find((a) => a.event_name === 'FREDDY');
  check(!!freddy, 'the API lists an active FREDDY alert');
  if (!freddy) throw new Error('no FREDDY alert to test against');
  const event = await api('api/events/' + encodeURIComponent(freddy.event_id));
  const versions = event.versions || [];
  const latest = versions[versions.length - 1];
  const doc = await api('api/alerts/' + encodeURIComponent(latest.id));
  const districts = new Map(doc.features.filter((f) => f.properties.layer === 'district').map((f) => [f.properties.pcode, f]));
  const quelimane = districts.get(QUELIMANE);
  check(quelimane && quelimane.properties.level === 'red', `the latest Freddy issuance has ${QUELIMANE} (Quelimane) red`);

  // --- load the page as a browser does (Accept: text/html at /)
  const t0 = Date.now();
  const resp = await page.goto(base, { waitUntil: 'domcontentloaded' });
  check(resp.headers()['content-type'].startsWith('text/html'), 'GET / with a browser Accept header serves the HTML map');
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  const ev = page.locator(`#events button[data-event="${freddy.event_id}"]`);
  if ((await ev.getAttribute('aria-pressed')) !== 'true') {
    await ev.click();
    await page.waitForSelector(`body[data-alert-id="${latest.id}"]`, { timeout: 30000 });
  }
  await page.waitForSelector(`body[data-alert-id="${latest.id}"][data-state="ready"]`, { timeout: 30000 });
  console.log(`page ready with the latest Freddy issuance in ${Date.now() - t0} ms`);

  // --- districts coloured by level, as the document says
  const fills = await page.$$eval('path.district', (ps) => ps.map((p) => [p.getAttribute('class'), p.getAttribute('fill')]));
  const fillOf = new Map(fills.map(([cls, fill]) => [(cls.match(/\bd-(\S+)/) || [])[1], (fill || '').toLowerCase()]));
  check(fillOf.size === 159, `159 districts drawn (found ${fillOf.size})`);
  let wrong = [];
  for (const [pcode, f] of districts) {
    const p = f.properties;
    if (p.level && fillOf.get(pcode) !== p.level_colour.toLowerCase()) wrong.push(`${pcode} ${p.level}: ${fillOf.get(pcode)}`);
  }
  check(wrong.length === 0, `every district with a level has its level's colour (${districts.size} checked) ${wrong.slice(0, 5).join(', ')}`);
  check(fillOf.get(QUELIMANE) === '#d50000', `${QUELIMANE} (Quelimane) is drawn red #d50000 (found ${fillOf.get(QUELIMANE)})`);
  const levelColours = new Set([...districts.values()].map((f) => f.properties.level_colour.toLowerCase()));
  const outside = [...fillOf].filter(([pc]) => !districts.has(pc));
  check(outside.length > 0 && outside.every(([, fill]) => !levelColours.has(fill)), 'districts outside the alert have no level colour');
  check(await page.locator('path.swath').count() > 0 && await page.locator('path.cone').count() === 1, 'wind swaths and the cone are drawn');
  const forecastPoints = doc.features.filter((f) => f.properties.layer === 'track_point' && f.properties.kind === 'forecast').length;
  check(await page.locator('.leaflet-tooltip.track-label').count() === forecastPoints, `every forecast point is labelled (${forecastPoints})`);
  check(/CAT/.test(await page.locator('.leaflet-tooltip.track-label').first().textContent()), 'track labels give Maputo time (CAT)');
  await page.screenshot({ path: join(artifacts, 'map-pt.png') });
  if (process.env.AVISO_DOCS_SCREENSHOT) await page.screenshot({ path: process.env.AVISO_DOCS_SCREENSHOT });

  // --- Portuguese first
  check(await page.getAttribute('html', 'lang') === 'pt', 'the page starts in Portuguese');
  check((await page.textContent('#districts-section h2')).trim() === 'Distritos em risco', 'the districts table is titled "Distritos em risco"');

  // --- clicking a district shows its people at risk
  const avoid = doc.features.filter((f) => f.geometry && f.geometry.type === 'Point').map((f) => f.geometry.coordinates);
  const clickDistrict = async (pcode) => {
    const f = districts.get(pcode);
    const [lon, lat] = clickablePoint(f.geometry, avoid);
    const xy = await page.evaluate(([la, lo, pc]) => {
      const m = window.aviso.map;
      m.closePopup();
      const layer = window.aviso.state.districtLayers.get(pc);
      m.fitBounds(layer.getBounds(), { animate: false });
      const p = m.latLngToContainerPoint([la, lo]);
      const r = m.getContainer().getBoundingClientRect();
      return [r.left + p.x, r.top + p.y];
    }, [lat, lon, pcode]);
    await page.waitForTimeout(300); // let Leaflet redraw after the zoom
    await page.mouse.click(xy[0], xy[1]);
    await page.waitForSelector('.leaflet-popup-content', { timeout: 5000 });
    return page.locator('.leaflet-popup-content').innerText();
  };
  const par = quelimane.properties.people_at_risk;
  let popup = await clickDistrict(QUELIMANE);
  check(popup.includes(quelimane.properties.name), `clicking ${QUELIMANE} opens its popup (${quelimane.properties.name})`);
  check(groupedRegex(par, 'pt').test(popup), `the popup shows its ${par} people at risk, grouped the Portuguese way`);
  check(/Pessoas em risco/.test(popup) && /vermelho/.test(popup), 'the popup labels are Portuguese (Pessoas em risco, vermelho)');
  await page.screenshot({ path: join(artifacts, 'district-popup-pt.png') });

  // --- CSV of the districts table, built in the page
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-csv-districts')]);
  const csv = readFileSync(await download.path(), 'utf8');
  const row = csv.split(/\r\n/).find((l) => l.startsWith(QUELIMANE + ','));
  check(!!row && row.split(',').includes(String(par)), `the districts CSV has ${QUELIMANE} with ${par} people at risk`);
  const rowsWithLevel = [...districts.values()].filter((f) => f.properties.level).length;
  check(csv.trim().split(/\r\n/).length === rowsWithLevel + 1, `the districts CSV has one row per district with a level (${rowsWithLevel})`);
  const geojsonHref = await page.getAttribute('#dl-geojson', 'href');
  const capHref = await page.getAttribute('#dl-cap', 'href');
  check(new URL(geojsonHref, base).pathname === `/api/alerts/${latest.id}` && new URL(capHref, base).pathname === `/api/alerts/${latest.id}/cap`,
    'GeoJSON and CAP links point at this issuance');

  // --- the language toggle
  await page.click('#lang');
  check(await page.getAttribute('html', 'lang') === 'en', 'the toggle switches the page to English');
  check((await page.textContent('#districts-section h2')).trim() === 'Districts at risk', 'the districts table is now titled "Districts at risk"');
  check((await page.textContent('#districts-table thead')).includes('People at risk'), 'table headers are English');
  popup = await clickDistrict(QUELIMANE);
  check(groupedRegex(par, 'en').test(popup) && /People at risk/.test(popup) && /\bred\b/.test(popup),
    `in English the popup shows ${par} as ${par.toLocaleString('en-GB')} with English labels`);
  await page.screenshot({ path: join(artifacts, 'map-en.png') });
  await page.click('#lang');
  check(await page.getAttribute('html', 'lang') === 'pt', 'and back to Portuguese');

  // --- the timeline switches issuance
  if (versions.length >= 2) {
    const first = versions[0];
    const firstDoc = await api('api/alerts/' + encodeURIComponent(first.id));
    const slider = page.locator('#timeline-range');
    if (await slider.count()) {
      await slider.evaluate((e) => { e.value = '0'; e.dispatchEvent(new Event('change')); });
    } else {
      await page.click(`#timeline button[data-alert="${first.id}"]`);
    }
    await page.waitForSelector(`body[data-alert-id="${first.id}"][data-state="ready"]`, { timeout: 30000 });
    const fills1 = new Map((await page.$$eval('path.district', (ps) => ps.map((p) => [p.getAttribute('class'), p.getAttribute('fill')])))
      .map(([cls, fill]) => [(cls.match(/\bd-(\S+)/) || [])[1], (fill || '').toLowerCase()]));
    const firstLevels = new Map(firstDoc.features.filter((f) => f.properties.layer === 'district' && f.properties.level)
      .map((f) => [f.properties.pcode, f.properties.level_colour.toLowerCase()]));
    wrong = [...firstLevels].filter(([pc, c]) => fills1.get(pc) !== c);
    check(wrong.length === 0, `after choosing v${first.version} every district has that issuance's colour (${firstLevels.size} checked)`);
    const differs = [...fillOf].filter(([pc, c]) => fills1.get(pc) !== c).length;
    check(differs > 0, `v${first.version} and v${latest.version} colour ${differs} districts differently`);
    check((await page.textContent('#issuance')).includes('v' + first.version), `the panel shows version ${first.version}`);
    await page.screenshot({ path: join(artifacts, `timeline-v${first.version}.png`) });
    await page.click(`#timeline button[data-alert="${latest.id}"]`).catch(async () => {
      await slider.evaluate((e) => { e.value = e.max; e.dispatchEvent(new Event('change')); });
    });
    await page.waitForSelector(`body[data-alert-id="${latest.id}"][data-state="ready"]`, { timeout: 30000 });
    check(true, `back to the latest issuance v${latest.version}`);
  } else {
    check(versions.length >= minVersions, `the Freddy event has ${versions.length} issuance(s); the timeline switch needs ${minVersions}`);
  }

  // --- new issuances without a refresh: the tab coming back into view polls at once
  const poll = () => Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname === '/api/alerts', { timeout: 5000 }).catch(() => null),
    page.evaluate(() => document.dispatchEvent(new Event('visibilitychange'))),
  ]);
  const signalDir = process.env.AVISO_WEB_SIGNAL_DIR;
  if (signalDir) {
    // The test harness publishes the next issuance when it reads this line.
    console.log('READY_FOR_NEW_ISSUANCE');
    const flag = join(signalDir, 'published');
    for (let waited = 0; !existsSync(flag); waited += 100) {
      if (waited > 120000) throw new Error('the harness never published the next issuance');
      await new Promise((r) => setTimeout(r, 100));
    }
    const next = ((await api('api/alerts')).alerts || []).find((a) => a.event_id === freddy.event_id);
    check(next && next.version === latest.version + 1, `the API now lists v${latest.version + 1} of Freddy`);
    const [polled] = await poll();
    check(!!polled, 'a tab that becomes visible asks /api/alerts for new issuances');
    await page.waitForSelector(`body[data-alert-id="${next.id}"][data-state="ready"]`, { timeout: 30000 }).catch(() => null);
    check(await page.getAttribute('body', 'data-alert-id') === next.id, `without a reload the page now shows v${next.version} (${next.id})`);
    check(await page.locator('#timeline button, #timeline-range').count() >= 1 &&
      (await page.locator('#timeline-range').count() || await page.locator('#timeline button').count() === versions.length + 1),
    `the timeline has ${versions.length + 1} issuances`);
    check((await page.textContent('#status')).includes('Nova emissão'), 'the status line announces the new issuance');
    await page.screenshot({ path: join(artifacts, `new-issuance-v${next.version}.png`) });
  } else {
    const [polled] = await poll();
    check(!!polled, 'a tab that becomes visible asks /api/alerts for new issuances');
  }

  // --- a phone screen
  const phone = await context.newPage();
  phone.on('request', (r) => {
    const u = new URL(r.url());
    if ((u.protocol === 'http:' || u.protocol === 'https:') && !LOCAL_HOSTS.has(u.hostname)) external.push(r.url());
  });
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(base + '?event=' + encodeURIComponent(freddy.event_id));
  await phone.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  const mapBox = await phone.locator('#map').boundingBox();
  const panelBox = await phone.locator('#panel').boundingBox();
  check(panelBox.y >= mapBox.y + mapBox.height - 1 && mapBox.width <= 390, 'on a phone the panel sits under a full-width map');
  const overflow = await phone.evaluate(() => document.scrollingElement.scrollWidth);
  check(overflow <= 390, `nothing overflows a 390 px wide screen (${overflow} px)`);
  await phone.screenshot({ path: join(artifacts, 'map-phone.png') });

  // --- only localhost, no errors
  check(external.length === 0, `no request left localhost ${external.slice(0, 3).join(' ')}`);
  check(errors.length === 0, `no console or page errors ${errors.slice(0, 3).join(' | ')}`);
  check(bad.length === 0, `no failed HTTP responses ${bad.slice(0, 3).join(' ')}`);
} catch (e) {
  failures.push(String(e && e.stack || e));
  console.log('FAIL ' + (e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`map.spec: ${failures.length ? failures.length + ' failure(s)' : 'all checks passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${artifacts}`);
process.exit(failures.length ? 1 : 0);
