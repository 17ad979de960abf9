// The flood part of the map's end-to-end test (map.spec.mjs runs it beside the Freddy
// part, in its own browser context, while both demo events are active).
//
// `aviso serve --demo` also replays the real river-station flood forecast issued
// 2025-09-25 (data/floods: stations and thresholds, member discharges, exceedance
// probabilities). Expected values come from those CSV files, read here, and from the
// service's API, never from the page:
//   - the stations at a level: a threshold counts when >= 30 % of members exceed it (the
//     GloFAS rule, README "Floods"), from the probabilities file's member counts;
//   - a station's name and river from the stations file (names join words with "_", which
//     the page shows as spaces), its probability from the counts on its peak day;
//   - the peak day by the documented rule (src/hazard/flood.rs StationOutlook::peak_date:
//     the highest level, then the highest probability of it, then the highest median
//     member discharge, then the earliest day), from the discharge file;
//   - the district holding the station by point-in-polygon against the API's districts;
//   - the alert's districts and levels from /api/alerts/{id}.
// The context's time zone is America/Sao_Paulo (UTC-3): a forecast date formatted as a
// local midnight would show the day before.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The GloFAS rule: a threshold counts as reached when at least 30 % of members exceed
 *  it (DOMAIN.md "Floods"; config [flood] min_probability_pct). */
const MIN_SHARE = 0.3;
const FLOOD_LEVELS = ['bankfull', 'moderate', 'severe'];
const YELLOW = '#ffd600'; // the ladder's yellow (src/alerts/levels.rs), bankfull's level

function readCsv(path) {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const cols = head.split(',');
  return rows.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}
const median = (xs) => {
  const v = xs.slice().sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
};
/** "2025-10-01" -> "01/10/2025": both pt-MZ and en-GB write dates day first. */
const dmy = (iso) => iso.split('-').reverse().join('/');

/** What the forecast files say, computed here from the raw rows. */
export function floodForecast(dir) {
  const probs = readCsv(join(dir, 'moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv'));
  const stations = new Map(readCsv(join(dir, 'moz_aa_flood_stations_thresholds.csv')).map((r) => [r.station_id, r]));
  const members = new Map();
  for (const r of readCsv(join(dir, 'moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv'))) {
    const k = r.station_id + ' ' + r.valid_time;
    if (!members.has(k)) members.set(k, []);
    members.get(k).push(Number(r.discharge));
  }
  const byStation = new Map();
  for (const r of probs) {
    const shares = Object.fromEntries(FLOOD_LEVELS.map((l) => [l, Number(r[l + '_exceeding']) / Number(r.total_members)]));
    const level = FLOOD_LEVELS.filter((l) => shares[l] >= MIN_SHARE).pop() || null;
    const day = { date: r.valid_time, shares, level, median: median(members.get(r.station_id + ' ' + r.valid_time) || [0]) };
    if (!byStation.has(r.station_id)) byStation.set(r.station_id, []);
    byStation.get(r.station_id).push(day);
  }
  const atLevel = [];
  for (const [id, days] of byStation) {
    const levelled = days.filter((d) => d.level);
    if (!levelled.length) continue;
    const rank = (d) => FLOOD_LEVELS.indexOf(d.level);
    const top = Math.max(...levelled.map(rank));
    const level = FLOOD_LEVELS[top];
    let peak = null;
    for (const d of days.filter((x) => rank(x) === top).sort((a, b) => a.date.localeCompare(b.date))) {
      if (!peak || d.shares[level] > peak.shares[level] || (d.shares[level] === peak.shares[level] && d.median > peak.median)) peak = d;
    }
    const s = stations.get(id);
    atLevel.push({ id, name: s.station_name.replace(/_+/g, ' ').trim(), river: s.river_name, lon: Number(s.longitude), lat: Number(s.latitude), level, peak: peak.date, share: peak.shares[level] });
  }
  return { issued: probs[0].forecast_issue_date, atLevel };
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

/** The flood checks. `t` holds the spec's helpers: check, api, waitFor, watch, artifacts. */
export async function floodChecks(browser, base, dataDir, t) {
  const { check, api, waitFor, watch, artifacts } = t;
  const fc = floodForecast(dataDir);
  check(fc.atLevel.length > 0, `the 2025-09-25 forecast files put ${fc.atLevel.map((s) => s.name + ' (' + s.level + ')').join(', ')} above a threshold`);
  const station = fc.atLevel[0];

  const alert = await waitFor('the demo to publish the flood forecast', 120000, async () =>
    ((await api('api/alerts?include_tests=true')).alerts || []).find((a) => a.hazard === 'flood'));
  const freddy = await waitFor('the demo to publish Freddy', 120000, async () =>
    ((await api('api/alerts?include_tests=true')).alerts || []).find((a) => a.event_name === 'FREDDY'));
  const doc = await api('api/alerts/' + encodeURIComponent(alert.id));
  const districts = new Map(alert.districts.map((d) => [d.pcode, d]));
  check(alert.status === 'Exercise' && alert.msg_type === 'Alert', `the demo's flood alert ${alert.id} is an Exercise Alert`);
  check(doc.aviso.issued === fc.issued, `it is the forecast issued ${fc.issued} (${doc.aviso.issued})`);
  const srcUrls = Object.values(doc.aviso.source || {}).filter((v) => typeof v === 'string' && v.startsWith('http'));
  check(srcUrls.length >= 2 && srcUrls.every((u) => u.includes('/replay/')), `its source files are marked as a replay (${srcUrls.map((u) => new URL(u).pathname).join(' ')})`);

  // The district that holds the station, by its coordinates in the stations file.
  const allDistricts = [];
  for (let next = 'collections/districts/items?limit=1000'; next;) {
    const fcol = await api(next);
    allDistricts.push(...fcol.features);
    const l = (fcol.links || []).find((x) => x.rel === 'next');
    next = l ? new URL(l.href).pathname.slice(1) + new URL(l.href).search : null;
  }
  const home = allDistricts.find((f) => inside(f.geometry, [station.lon, station.lat]));
  check(!!home && districts.get(home.properties.pcode) && districts.get(home.properties.pcode).level === 'yellow',
    `${station.name} lies in ${home && home.properties.name} (${home && home.properties.pcode}), which the API has yellow`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'pt-PT', timezoneId: 'America/Sao_Paulo', acceptDownloads: true });
  const page = await context.newPage();
  watch(page);
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60000 });
  const listed = await page.$$eval('#events button', (bs) => bs.map((b) => b.dataset.event));
  check(listed.includes(alert.event_id) && listed.includes(freddy.event_id),
    `the list of active events holds the flood and the cyclone (${listed.join(', ')})`);

  // --- choose the flood in the list
  await page.click(`#events button[data-event="${alert.event_id}"]`);
  await page.waitForSelector(`body[data-alert-id="${alert.id}"][data-state="ready"]`, { timeout: 30000 });
  check(await page.getAttribute(`#events button[data-event="${alert.event_id}"]`, 'aria-pressed') === 'true', 'clicking the flood in the list selects it');
  const fills = new Map((await page.$$eval('path.district', (ps) => ps.map((e) => [e.getAttribute('class'), e.getAttribute('fill')])))
    .map(([cls, fill]) => [(cls.match(/\bd-(\S+)/) || [])[1], (fill || '').toLowerCase()]));
  const docDistricts = new Map(doc.features.filter((f) => f.properties.layer === 'flood_district').map((f) => [f.properties.pcode, f.properties]));
  const wrong = [...districts.values()].filter((d) => fills.get(d.pcode) !== (docDistricts.get(d.pcode) || {}).level_colour);
  check(districts.size > 0 && wrong.length === 0, `each of the ${districts.size} flood districts (${[...districts.values()].map((d) => d.name).join(', ')}) has its level's colour`);
  check(home && fills.get(home.properties.pcode) === YELLOW, `${home && home.properties.name} is drawn yellow ${YELLOW} (found ${home && fills.get(home.properties.pcode)})`);
  const others = [...fills].filter(([pc, c]) => !districts.has(pc) && c === YELLOW);
  check(others.length === 0, `no district outside the alert is yellow ${others.slice(0, 3).map(([pc]) => pc).join(' ')}`);

  // --- the panel in Portuguese
  const title = await page.textContent('#issuance-title');
  check(/Cheia/.test(await page.textContent('#issuance-hazard')) && /EXERCÍCIO/.test(title), `the panel title names the event "Cheia", as an exercise (${title.trim()})`);
  const panel = await page.innerText('#issuance');
  check(panel.includes(dmy(fc.issued)), `the panel gives the forecast's issue date ${dmy(fc.issued)}`);
  check((await page.textContent('#flood-peak')).trim() === dmy(station.peak), `the peak is ${dmy(station.peak)}, the day the forecast files give (found ${await page.textContent('#flood-peak')})`);
  const li = await page.innerText(`#flood-stations li[data-station="${station.id}"]`);
  const sharePt = Math.round(station.share * 100) + ' %';
  check(li.includes(station.name) && li.includes(station.river) && /margens cheias/.test(li) && li.includes(sharePt),
    `the panel lists ${station.name}, river ${station.river}, "margens cheias", ${sharePt} of members (${li})`);
  check(!/\b(bankfull|members|Forecast)\b/.test(panel), 'the Portuguese panel has no English words');
  const tl = await page.$$eval('#timeline button', (bs) => bs.map((b) => b.textContent));
  check(tl.length === 1 && tl[0].includes(dmy(fc.issued).slice(0, 5)), `the timeline has the flood's one version, named by its forecast date (${tl.join(' | ')})`);

  // --- the flood's districts in view (the picture of the README), then the station
  await page.evaluate((pcs) => {
    const m = window.aviso.map;
    const b = window.L.latLngBounds([]);
    for (const pc of pcs) b.extend(window.aviso.state.districtLayers.get(pc).getBounds());
    m.fitBounds(b.pad(0.8), { animate: false });
  }, [...districts.keys()]);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(artifacts, 'flood-map-pt.png') });
  if (process.env.AVISO_DOCS_FLOOD_SCREENSHOT) await page.screenshot({ path: process.env.AVISO_DOCS_FLOOD_SCREENSHOT });

  // --- the station marker and its popup
  const openStation = async () => {
    const xy = await page.evaluate(([la, lo]) => {
      const m = window.aviso.map;
      m.closePopup();
      m.setView([la, lo], 8, { animate: false });
      const p = m.latLngToContainerPoint([la, lo]);
      const r = m.getContainer().getBoundingClientRect();
      return [r.left + p.x, r.top + p.y];
    }, [station.lat, station.lon]);
    await page.waitForTimeout(300); // let Leaflet redraw after the move
    await page.mouse.click(xy[0], xy[1]);
    await page.waitForSelector('.leaflet-popup-content', { timeout: 5000 });
    await page.waitForTimeout(300); // the popup fades in (0.2 s): screenshots show it whole
    return page.locator('.leaflet-popup-content').innerText();
  };
  check(await page.locator(`path.flood-station.fs-${station.id}.at-level`).count() === 1, `the station ${station.id} is drawn as a station at a level`);
  const footprints = (doc.features || []).filter((f) => f.properties && f.properties.layer === 'flood_footprint').length;
  check(footprints > 0 && await page.locator('path.flood-footprint').count() === footprints,
    `each of the document's ${footprints} station impact areas is outlined on the map`);
  let popup = await openStation();
  check(popup.includes(station.name) && popup.includes(station.river) && /margens cheias/.test(popup) && popup.includes(sharePt) && popup.includes(dmy(station.peak)),
    `clicking the station opens ${station.name}: river ${station.river}, margens cheias, ${sharePt}, peak ${dmy(station.peak)}`);
  check(/amarelo/.test(popup) && /Probabilidade/.test(popup), 'the popup is in Portuguese (amarelo, Probabilidade)');
  await page.screenshot({ path: join(artifacts, 'flood-pt.png') });

  // --- downloads: the districts CSV built in the page, the GeoJSON and the CAP
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-csv-districts')]);
  const csvRows = readFileSync(await download.path(), 'utf8').trim().split(/\r\n/).slice(1).map((l) => l.split(',')[0]);
  check(csvRows.length === districts.size && csvRows.every((pc) => districts.has(pc)), `the districts CSV has the alert's ${districts.size} districts (${csvRows.join(' ')})`);
  for (const id of ['#dl-geojson', '#dl-cap']) {
    const r = await fetch(new URL(await page.getAttribute(id, 'href'), base));
    const body = await r.text();
    const ok = id === '#dl-cap' ? body.includes('<event>Cheia</event>') && body.includes('<status>Exercise</status>') : JSON.parse(body).aviso.hazard === 'flood';
    check(r.status === 200 && ok, `the ${id.slice(4)} link answers 200 with the flood alert`);
  }
  // The flood version's contingency plan, as the cyclone's: its sheet, in the page's language.
  const planHref = new URL(await page.getAttribute('#dl-plan', 'href'), base);
  check(planHref.pathname === `/api/alerts/${alert.id}/plan` && planHref.searchParams.get('lang') === 'pt',
    'the contingency-plan link points at the flood version, in Portuguese');
  const planPage = await fetch(planHref);
  const planText = await planPage.text();
  check(planPage.status === 200 && planText.includes('Plano de acolhimento — cheias') && planText.includes(station.name) && planText.includes(alert.id),
    `the contingency-plan link serves the flood sheet of that version, naming ${station.name}`);

  // --- English
  await page.click('#lang');
  check(/Flood/.test(await page.textContent('#issuance-hazard')) && (await page.textContent('#events')).includes('Floods: ' + station.river), `in English the event is "Flood" and the list says "Floods: ${station.river}"`);
  const panelEn = await page.innerText('#issuance');
  check(/Forecast peak/.test(panelEn) && (await page.textContent('#flood-peak')).trim() === dmy(station.peak), `the English panel gives the forecast peak ${dmy(station.peak)}`);
  check(/bankfull/.test(await page.innerText(`#flood-stations li[data-station="${station.id}"]`)), 'and the station at "bankfull"');
  popup = await openStation();
  check(popup.includes(station.river) && /bankfull/.test(popup) && /yellow/.test(popup) && popup.includes(sharePt), 'the station popup is in English (bankfull, yellow)');
  await page.screenshot({ path: join(artifacts, 'flood-en.png') });
  await page.click('#lang');

  // --- switch to the cyclone and back
  if (((await api('api/alerts?include_tests=true')).alerts || []).some((a) => a.event_id === freddy.event_id)) {
    await page.click(`#events button[data-event="${freddy.event_id}"]`);
    await page.waitForFunction((ev) => {
      const s = window.aviso.state;
      return s.eventId === ev && document.body.dataset.state === 'ready' && s.doc && s.doc.aviso && s.doc.aviso.hazard === 'tropical_cyclone';
    }, freddy.event_id, { timeout: 30000 });
    check(/Ciclone tropical/.test(await page.textContent('#issuance-hazard')) && (await page.locator('path.flood-station').count()) === 0,
      'clicking Freddy in the list shows the cyclone, without the flood stations');
    await page.click(`#events button[data-event="${alert.event_id}"]`);
    await page.waitForSelector(`body[data-alert-id="${alert.id}"][data-state="ready"]`, { timeout: 30000 });
    check(/Cheia/.test(await page.textContent('#issuance-hazard')), 'and clicking the flood brings it back');
  } else {
    check(false, 'Freddy was still active to switch to (the flood checks ran too late)');
  }
  await context.close();
}
