// aviso alert map: one page, plain JavaScript, no framework and no build step.
//
// Data come only from this service's own API, same origin, relative URLs (so the page also
// works behind a reverse proxy under a path prefix):
//   api/map-config                      optional tile basemap (null: no tiles, no internet)
//   collections/{provinces,districts}/items   the basemap (OGC API - Features)
//   collections, collections/{id}/items the point layers (whole, or by bbox when large)
//   api/alerts                          active alerts, polled every 30 s and on focus
//   api/events/{id}                     the versions of one event (the timeline)
//   api/alerts/{id}                     one issuance: the alert GeoJSON document
// Links offered for download: api/alerts/{id} (GeoJSON), api/alerts/{id}/cap (CAP 1.2), and
// for a cyclone or flood version its contingency plan, api/alerts/{id}/plan?lang= (HTML sheet).
// Nothing else is fetched: no CDN, no fonts, no tiles unless configured. The server's
// Content-Security-Policy enforces that.
//
// Text is built with DOM nodes, never innerHTML, so names from the data cannot inject
// markup (and the CSP can forbid inline styles).
(function () {
  'use strict';

  /** Poll period for new issuances. RSMC La Réunion issues every 6 h and floods daily;
   *  30 s makes a new issuance visible well within a minute of publication at the cost
   *  of one small JSON request per open page. */
  const POLL_MS = 30000;
  /** Point layers with more features than this are loaded by bbox when zoomed in. */
  const WHOLE_LAYER_MAX = 5000;
  /** Zoom from which bbox-loaded point layers (the 24,602 settlements) are drawn. At 10
   *  a phone screen covers ~40 km: a few hundred settlements, drawn as SVG circles. */
  const BBOX_MIN_ZOOM = 10;
  /** Pages of 1000 (the OGC API maximum) fetched per view for a bbox layer. */
  const BBOX_MAX_PAGES = 3;
  /** Mozambique's extent (COD-AB adm0, rounded out), the first view before data arrive. */
  /** Hours of observed track before the issuance whose fixes are drawn as points. */
  const ANALYSIS_POINTS_H = 48;
  const MOZ_BOUNDS = [[-26.9, 30.2], [-10.4, 41.0]];
  const LEVELS = ['green', 'yellow', 'orange', 'red'];
  /** The alert ladder's colours (src/alerts/levels.rs), used only when a document lacks
   *  `level_colour`. */
  const LEVEL_COLOUR = { green: '#4caf50', yellow: '#ffd600', orange: '#ff8f00', red: '#d50000' };
  const NO_ALERT_FILL = '#fbfaf5';
  /** Wind swath outline per 10-min threshold (kt): warmer is stronger. */
  const SWATH_COLOUR = { 28: '#9e9d24', 34: '#f9a825', 48: '#ef6c00', 50: '#ef6c00', 64: '#b71c1c' };
  /** Probability contour fill per level (0.1…0.9): blues, apart from the level colours. */
  const PROB_COLOUR = { 0.1: '#c6dbef', 0.3: '#6baed6', 0.5: '#2171b5', 0.7: '#08519c', 0.9: '#08306b' };
  const POINT_COLOUR = {
    resettlement_site: '#6a1b9a', idp_site: '#ad1457', accommodation_centre: '#00695c',
    health_facility: '#1565c0', settlement: '#5d4037',
  };

  const I18N = {
    pt: {
      locale: 'pt-MZ', title: 'Mapa de alertas', panel_toggle: 'Painel',
      view: 'Vista', view_det: 'Trajectória oficial', view_prob: 'Probabilidades',
      prob_title: 'P(ventos ≥ {kt} nós em 0–{h} h)', prob_none: 'Sem avaliação probabilística nesta emissão.',
      prob_failed: 'A avaliação probabilística falhou; vale o alerta determinístico.',
      prob_pending: 'Probabilidades em cálculo: aparecem aqui quando prontas; o alerta determinístico já está emitido.',
      prob_skipped: 'Sem probabilidades nesta emissão: uma emissão mais recente chegou antes do cálculo.',
      prob_realisations: '{n} realizações em torno da previsão oficial', wind_kt: 'Vento', window_h: 'Janela',
      p34_72: 'P ≥34 nós 72 h', p64_72: 'P ≥64 nós 72 h',
      events: 'Eventos activos', no_events: 'Sem alertas activos.',
      no_service: 'O serviço de alertas não respondeu; mostra-se só o mapa base.',
      ogc_alert: 'Sem serviço de alertas: mostra-se o alerta das colecções OGC (sem histórico).',
      timeline: 'Emissões', districts_at_risk: 'Distritos em risco', sites_at_risk: 'Locais em risco',
      about: 'Dados: API deste serviço (OGC API – Features e /api/alerts). Horas de Maputo (CAT, UTC+2).',
      updated: 'Actualizado', update_failed: 'Falha ao actualizar', new_issuance: 'Nova emissão',
      loading: 'A carregar…',
      version: 'Versão', sent: 'Emitido', reference: 'Referência', event_level: 'Nível do evento',
      peak_wind: 'Vento máximo previsto', landfall: 'Chegada a terra', trigger: 'Gatilho AA',
      people_at_risk: 'Pessoas em risco', people: 'pessoas', districts_n: 'distritos',
      valid: 'Válido', stations: 'Estações', cancelled: 'Alerta cancelado: sem distritos em risco.',
      withdrawn: 'Alerta retirado: foi emitido por erro.',
      changes: 'Alterações desde a versão anterior', added: 'Novos', raised: 'Subiram', lowered: 'Desceram', removed: 'Saíram',
      download: 'Descarregar', csv_districts: 'CSV distritos', csv_sites: 'CSV locais', plan: 'Plano de contingência',
      province: 'Província', district: 'Distrito', level: 'Nível', level_why: 'Porquê este nível', arrival: 'Chegada', lead: 'Antecedência',
      points_inside: 'Pontos no interior', sites_inside: 'Locais', name: 'Nome', type: 'Tipo', wind: 'Vento', population: 'População',
      households: 'Agregados', capacity: 'Capacidade', shelters: 'Abrigos seguros mais próximos',
      none: 'nenhum', no_alert: 'Sem alerta neste distrito', in_cone: 'No cone de incerteza',
      in_exposed: 'Na área exposta', yes: 'sim', no: 'não', subtype: 'Subtipo',
      first_arrival: 'Primeira chegada', hours: 'h', zoom_in: 'Aproxime o mapa para ver', km: 'km',
      no_sites: 'Nenhum local em risco nesta emissão.', no_districts: 'Nenhum distrito em risco nesta emissão.',
      country: 'País', provinces: 'Províncias', districts: 'Distritos', track: 'Trajectória e previsões',
      points_at_risk: 'Locais em risco', cone: 'Cone de incerteza', exposed_area: 'Área exposta (gatilho AA)',
      swath: 'Vento ≥ {kt} nós ({kmh} km/h)', observed_swath: 'Vento ≥ {kt} nós já ocorrido (contexto)',
      flood_stations: 'Estações hidrométricas', flood_extent: 'Extensão da cheia', flood_footprint: 'Área de impacto das estações', tiles: 'Mapa de fundo (tiles)',
      legend: 'Legenda', no_level: 'sem alerta', forecast_point: 'Previsão', analysis_point: 'Observado',
      map_label: 'Mapa', test: 'TESTE', exercise: 'EXERCÍCIO',
      level_names: { green: 'verde', yellow: 'amarelo', orange: 'laranja', red: 'vermelho' },
      msg_types: { Alert: 'Alerta', Update: 'Actualização', Cancel: 'Cancelamento', Error: 'Erro (retirado)' },
      hazards: { tropical_cyclone: 'Ciclone tropical', flood: 'Cheia' },
      flood_event: 'Cheias', same_incident: 'Mesmo incidente', reason: 'Motivo', forecast_issued: 'Previsão emitida', peak: 'Pico previsto', first_day: 'Primeiro dia',
      stations_at_level: 'Estações acima de um limiar', station: 'Estação', river: 'Rio', flood_level: 'Nível da cheia',
      probability: 'Probabilidade', of_members: 'dos membros', rule: 'Regra',
      members_rule: 'um limiar conta quando ≥ {pct} % dos membros do conjunto o excedem',
      per_day: 'Por dia (probabilidade de exceder cada limiar)', day: 'Dia',
      flood_levels: { bankfull: 'margens cheias', moderate: 'cheia moderada', severe: 'cheia severa' },
      flood_level_short: { bankfull: 'margens', moderate: 'moderada', severe: 'severa' },
      triggers: { action: 'ACÇÃO', readiness: 'PRONTIDÃO', too_late: 'tarde demais (resposta)', too_early: 'cedo demais', not_met: 'não atingido' },
      kinds: {
        resettlement_site: 'Centros de reassentamento', idp_site: 'Locais de deslocados',
        accommodation_centre: 'Centros de acomodação', health_facility: 'Unidades sanitárias', settlement: 'Povoações',
      },
      kind_one: {
        resettlement_site: 'centro de reassentamento', idp_site: 'local de deslocados',
        accommodation_centre: 'centro de acomodação', health_facility: 'unidade sanitária', settlement: 'povoação',
      },
    },
    en: {
      locale: 'en-GB',
      view: 'View', view_det: 'Official track', view_prob: 'Probabilities',
      prob_title: 'P(winds ≥ {kt} kt within 0–{h} h)', prob_none: 'No probabilistic assessment in this issuance.',
      prob_failed: 'The probabilistic assessment failed; the deterministic alert stands.',
      prob_pending: 'Probabilities being computed: they appear here when ready; the deterministic alert is already out.',
      prob_skipped: 'No probabilities in this issuance: a newer issuance arrived before they were computed.',
      prob_realisations: '{n} realisations around the official forecast', wind_kt: 'Wind', window_h: 'Window',
      p34_72: 'P ≥34 kt 72 h', p64_72: 'P ≥64 kt 72 h', title: 'Alert map', panel_toggle: 'Panel',
      events: 'Active events', no_events: 'No active alerts.',
      no_service: 'The alert service did not answer; showing the basemap only.',
      ogc_alert: 'No alert service: showing the alert of the OGC collections (no history).',
      timeline: 'Issuances', districts_at_risk: 'Districts at risk', sites_at_risk: 'Sites at risk',
      about: "Data: this service's API (OGC API – Features and /api/alerts). Maputo time (CAT, UTC+2).",
      updated: 'Updated', update_failed: 'Update failed', new_issuance: 'New issuance',
      loading: 'Loading…',
      version: 'Version', sent: 'Sent', reference: 'Reference', event_level: 'Event level',
      peak_wind: 'Peak forecast wind', landfall: 'Landfall', trigger: 'AA trigger',
      people_at_risk: 'People at risk', people: 'people', districts_n: 'districts',
      valid: 'Valid', stations: 'Stations', cancelled: 'Alert cancelled: no districts at risk.',
      withdrawn: 'Alert withdrawn: it was issued in error.',
      changes: 'Changes since the previous version', added: 'Added', raised: 'Raised', lowered: 'Lowered', removed: 'Removed',
      download: 'Download', csv_districts: 'Districts CSV', csv_sites: 'Sites CSV', plan: 'Contingency plan',
      province: 'Province', district: 'District', level: 'Level', level_why: 'Why this level', arrival: 'Arrival', lead: 'Lead time',
      points_inside: 'Points inside', sites_inside: 'Sites', name: 'Name', type: 'Type', wind: 'Wind', population: 'Population',
      households: 'Households', capacity: 'Capacity', shelters: 'Nearest safe shelters',
      none: 'none', no_alert: 'No alert in this district', in_cone: 'In the uncertainty cone',
      in_exposed: 'In the exposed area', yes: 'yes', no: 'no', subtype: 'Subtype',
      first_arrival: 'First arrival', hours: 'h', zoom_in: 'Zoom in to see', km: 'km',
      no_sites: 'No site at risk in this issuance.', no_districts: 'No district at risk in this issuance.',
      country: 'Country', provinces: 'Provinces', districts: 'Districts', track: 'Track and forecast points',
      points_at_risk: 'Sites at risk', cone: 'Uncertainty cone', exposed_area: 'Exposed area (AA trigger)',
      swath: 'Wind ≥ {kt} kt ({kmh} km/h)', observed_swath: 'Wind ≥ {kt} kt already observed (context)',
      flood_stations: 'River gauging stations', flood_extent: 'Flood extent', flood_footprint: 'Station impact areas', tiles: 'Background map (tiles)',
      legend: 'Legend', no_level: 'no alert', forecast_point: 'Forecast', analysis_point: 'Observed',
      map_label: 'Map', test: 'TEST', exercise: 'EXERCISE',
      level_names: { green: 'green', yellow: 'yellow', orange: 'orange', red: 'red' },
      msg_types: { Alert: 'Alert', Update: 'Update', Cancel: 'Cancel', Error: 'Error (withdrawn)' },
      hazards: { tropical_cyclone: 'Tropical cyclone', flood: 'Flood' },
      flood_event: 'Floods', same_incident: 'Same incident', reason: 'Reason', forecast_issued: 'Forecast issued', peak: 'Forecast peak', first_day: 'First day',
      stations_at_level: 'Stations above a threshold', station: 'Station', river: 'River', flood_level: 'Flood level',
      probability: 'Probability', of_members: 'of members', rule: 'Rule',
      members_rule: 'a threshold counts when ≥ {pct} % of ensemble members exceed it',
      per_day: 'Per day (probability of exceeding each threshold)', day: 'Day',
      flood_levels: { bankfull: 'bankfull', moderate: 'moderate flood', severe: 'severe flood' },
      flood_level_short: { bankfull: 'bankfull', moderate: 'moderate', severe: 'severe' },
      triggers: { action: 'ACTION', readiness: 'READINESS', too_late: 'too late (response)', too_early: 'too early', not_met: 'not met' },
      kinds: {
        resettlement_site: 'Resettlement sites', idp_site: 'IDP sites',
        accommodation_centre: 'Accommodation centres', health_facility: 'Health facilities', settlement: 'Settlements',
      },
      kind_one: {
        resettlement_site: 'resettlement site', idp_site: 'IDP site',
        accommodation_centre: 'accommodation centre', health_facility: 'health facility', settlement: 'settlement',
      },
    },
  };

  // ---------------------------------------------------------------- state
  const params = new URLSearchParams(location.search);
  const S = {
    lang: pickLanguage(),
    config: {},
    map: null,
    basemap: { country: null, provinces: null, districts: null },
    districtLayers: new Map(), // pcode -> Leaflet layer of the basemap district
    districtInfo: new Map(), // pcode -> {name, province_name, population}
    provinceNames: new Map(), // province pcode -> name (basemap)
    alerts: [], // active summaries
    alertsError: false,
    eventId: params.get('event'),
    versions: [], // summaries of the selected event, oldest first
    alertId: params.get('alert'),
    followLatest: !params.get('alert'),
    docs: new Map(), // alert id -> document (issuances never change)
    doc: null,
    docDistricts: new Map(), // pcode -> district feature properties of the shown alert
    alertLayers: null, // L.LayerGroup per overlay of the shown alert
    pointLayers: [], // {id, kind, title, mode, group, loaded}
    overlays: new Map(), // key -> {layer, label()}
    layerControl: null,
    legend: null,
    hint: null,
    sort: { districts: { key: 'level', dir: -1 }, sites: { key: 'wind', dir: -1 } },
    selectedDistrict: null,
    pollTimer: null,
    pollBusy: false,
    // Issue 12: the map shows the official track's footprints ('det') or the probability
    // contours ('prob') of one threshold and window.
    view: params.get('view') === 'prob' ? 'prob' : 'det',
    probKt: 34,
    probH: 120,
  };

  function pickLanguage() {
    const q = params.get('lang');
    if (q === 'pt' || q === 'en') return q;
    try {
      const saved = localStorage.getItem('aviso.lang');
      if (saved === 'pt' || saved === 'en') return saved;
    } catch (_) { /* storage may be disabled */ }
    return 'pt'; // Portuguese first: the working language of INGD (DOMAIN.md)
  }

  // ---------------------------------------------------------------- text and formats
  function t(key, vars) {
    let s = I18N[S.lang][key];
    if (s === undefined) s = I18N.pt[key];
    if (s === undefined) return key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace('{' + k + '}', v);
    return s;
  }
  const fmtCache = {};
  function numFmt(digits) {
    const k = S.lang + digits;
    if (!fmtCache[k]) fmtCache[k] = new Intl.NumberFormat(t('locale'), { maximumFractionDigits: digits });
    return fmtCache[k];
  }
  function fmtNum(x, digits) {
    if (x === null || x === undefined || Number.isNaN(Number(x))) return '–';
    const v = Number(x);
    return numFmt(digits || 0).format(v === 0 ? 0 : v); // no "-0" for the document's -0.0
  }
  /** A time in Maputo (CAT, UTC+2, no daylight saving), e.g. "10/03/2023 06:00 CAT". */
  function fmtTime(iso, short) {
    if (!iso) return '–';
    if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) { // a date (flood forecasts): no time zone shift
      return new Intl.DateTimeFormat(t('locale'), { timeZone: 'UTC', day: '2-digit', month: '2-digit', year: 'numeric' })
        .format(new Date(iso + 'T00:00:00Z'));
    }
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const opts = { timeZone: 'Africa/Maputo', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (!short) opts.year = 'numeric';
    return new Intl.DateTimeFormat(t('locale'), opts).format(d) + ' CAT';
  }
  function fmtLead(h) {
    if (h === null || h === undefined) return '';
    return (h >= 0 ? '+' : '') + fmtNum(h, 0) + ' ' + t('hours');
  }
  function levelName(level) { return level ? (t('level_names')[level] || level) : t('no_level'); }
  function levelColour(level, given) { return given || LEVEL_COLOUR[level] || NO_ALERT_FILL; }
  function levelRank(level) { return LEVELS.indexOf(level); }
  /** A flood level's name in the page's language ("bankfull" -> "margens cheias"). */
  function floodLevelName(code) { return code ? (t('flood_levels')[code] || code) : t('no_level'); }
  /** Station names in the forecast files join words with underscores
   *  ("Changane_em_Chibuto", "Limpopo__Combomune"): shown with spaces. */
  function stationName(name) { return String(name || '').replace(/_+/g, ' ').trim(); }
  /** A share of ensemble members (0..1) as a whole percentage. */
  function fmtShare(x) { return x === null || x === undefined ? '–' : fmtNum(x * 100, 0) + ' %'; }
  /** The event's name in the page's language. The service names a flood event by its
   *  rivers, "Cheias: Limpopo" (src/pipeline/flood.rs; "Cheias (<feed>)" before any
   *  station reached a level); English readers get "Floods: Limpopo". */
  function eventName(a) {
    const name = (a && a.event_name) || (a && a.event_id) || '';
    if (!a || a.hazard !== 'flood') return name;
    const m = /^Cheias: (.*)$/.exec(name);
    if (m) return t('flood_event') + ': ' + m[1];
    const f = /^Cheias \((.*)\)$/.exec(name);
    return f ? t('flood_event') + ' (' + f[1] + ')' : name;
  }

  /** The AA trigger's `reason` is one English sentence that src/alerts/trigger.rs writes
   *  from a few templates. The English view shows it as written; the Portuguese view
   *  translates those templates here (one table, tested on every version of the Freddy
   *  demo by tests/web/map.spec.mjs, which fails if a reason matches none). A reason no
   *  template matches is never shown in English: the Portuguese view then builds its
   *  sentence from the trigger's structured fields (provinces, lead time, season). */
  const TRIGGER_BASIS_PT = {
    landfall: 'à chegada a terra',
    'first arrival of threshold wind in a watched province': 'à primeira chegada do vento-limiar a uma província vigiada',
  };
  const TRIGGER_REASONS_PT = [
    [/^the ([\d.]+) kt exposed area does not overlap any watched province$/,
      (m) => 'a área exposta a ' + m[1] + ' nós não abrange nenhuma província vigiada'],
    [/^the storm is already over land: landfall has happened$/,
      () => 'o ciclone já está sobre terra: a chegada a terra já ocorreu'],
    [/^no landfall and no threshold wind over a watched province in the forecast$/,
      () => 'a previsão não tem chegada a terra nem vento-limiar sobre uma província vigiada'],
    [/^exposed area over (.+?); (-?[\d.]+) h to (.+?) is (under|within|beyond) ([\d.]+)(?:–([\d.]+))? h( \(outside the trigger season\))?$/,
      (m) => {
        const basis = TRIGGER_BASIS_PT[m[3]];
        if (!basis) return null;
        const window = m[4] === 'under' ? 'menos de ' + m[5] + ' h'
          : m[4] === 'beyond' ? 'mais de ' + m[5] + ' h'
            : 'entre ' + m[5] + ' e ' + m[6] + ' h';
        return 'área exposta sobre ' + provinceList(m[1]) + '; faltam ' + m[2] + ' h ' + basis + ', ' + window +
          (m[7] ? ' (fora da época do gatilho)' : '');
      }],
  ];
  /** "MZ09, MZ11" -> "MZ09 Sofala, MZ11 Zambezia" when the basemap knows the names. */
  function provinceList(codes) {
    return codes.split(/,\s*/).map((c) => (S.provinceNames.get(c) ? c + ' ' + S.provinceNames.get(c) : c)).join(', ');
  }
  /** {text, known}: the reason in the page's language, and whether a known template
   *  matched (always true in English, where the reason is shown as written). */
  function triggerReason(trigger, lang) {
    const reason = (trigger && trigger.reason) || '';
    if ((lang || S.lang) === 'en') return { text: reason, known: true };
    for (const [re, pt] of TRIGGER_REASONS_PT) {
      const m = re.exec(reason);
      const text = m && pt(m);
      if (text) return { text: text, known: true };
    }
    const parts = [];
    if (trigger && trigger.provinces_exposed && trigger.provinces_exposed.length) parts.push('área exposta sobre ' + provinceList(trigger.provinces_exposed.join(', ')));
    if (trigger && typeof trigger.lead_time_h === 'number') parts.push(fmtNum(trigger.lead_time_h) + ' h de antecedência');
    if (trigger && trigger.in_season === false) parts.push('fora da época do gatilho');
    return { text: parts.join('; '), known: false };
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else if (k === 'style') Object.assign(e.style, v); // CSSOM: allowed by the CSP
        else e.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }
  const $ = (id) => document.getElementById(id);
  function badge(level, colour) {
    const c = levelColour(level, colour);
    return el('span', { class: 'badge' + (level === 'red' || level === 'green' ? ' dark' : ''), style: { background: c } }, levelName(level));
  }
  function statusTag(status) {
    if (status === 'Test') return el('span', { class: 'badge tag-test' }, t('test'));
    if (status === 'Exercise') return el('span', { class: 'badge tag-test' }, t('exercise'));
    return null;
  }
  function setStatus(text) { $('status').textContent = text; }

  // ---------------------------------------------------------------- fetching
  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: 'application/json, application/geo+json' } });
    if (!r.ok) {
      const e = new Error(url + ': HTTP ' + r.status);
      e.status = r.status;
      throw e;
    }
    return r.json();
  }
  /** All features of an OGC API collection, following `next` links (same origin only). */
  async function getAllItems(url, maxPages) {
    const features = [];
    let next = url;
    for (let page = 0; next && page < (maxPages || 100); page++) {
      const fc = await getJSON(next);
      features.push(...(fc.features || []));
      const link = (fc.links || []).find((l) => l.rel === 'next');
      next = link ? sameOrigin(link.href) : null;
    }
    return features;
  }
  /** The OGC API writes absolute links from its public URL; fetch them through this
   *  page's origin so a proxy or a different host name never sends us elsewhere. */
  function sameOrigin(href) {
    try {
      const u = new URL(href, location.href);
      return u.pathname.replace(/^\//, '') + u.search;
    } catch (_) { return null; }
  }
  function alertUrl(id) { return 'api/alerts/' + encodeURIComponent(id); }

  // ---------------------------------------------------------------- map set-up
  function initMap() {
    const map = L.map('map', { zoomSnap: 0.5, preferCanvas: false, minZoom: 4, maxZoom: 16 });
    map.fitBounds(MOZ_BOUNDS);
    // z-order: basemap fills, province outlines, hazard zones, track, points, then
    // Leaflet's own tooltip and popup panes.
    for (const [name, z] of [['base', 300], ['districts', 350], ['provinces', 380], ['hazard', 420], ['track', 460], ['points', 480]]) {
      map.createPane(name).style.zIndex = z;
    }
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution('COD-AB © OCHA / INE Moçambique');
    S.map = map;
    S.hint = L.control({ position: 'topright' });
    S.hint.onAdd = () => el('div', { class: 'hint', id: 'hint' });
    S.hint.addTo(map);
    map.on('zoomend', () => { rescalePoints(); refreshBboxLayers(); declutterLabels(); });
    map.on('moveend', refreshBboxLayers);
    map.on('overlayadd overlayremove', () => renderLegend());
    window.aviso = { map: map, state: S, triggerReason: triggerReason }; // for the end-to-end test and debugging
  }

  async function loadConfig() {
    try { S.config = await getJSON('api/map-config'); } catch (_) { S.config = {}; }
    if (S.config && S.config.tile_url) {
      const tiles = L.tileLayer(S.config.tile_url, {
        maxZoom: S.config.tile_max_zoom || 18,
        attribution: S.config.tile_attribution || '',
      });
      tiles.addTo(S.map);
      S.overlays.set('tiles', { layer: tiles, label: () => t('tiles') });
    }
  }

  async function loadBasemap() {
    const tiles = !!(S.config && S.config.tile_url);
    // The provinces also draw the country: their outer edge is its outline, and the
    // `country` collection would add 0.3 MB (95 kB gzipped) for the same line.
    const [provinces, districts] = await Promise.all([
      getAllItems('collections/provinces/items?limit=1000').catch(() => []),
      getAllItems('collections/districts/items?limit=1000'),
    ]);
    S.basemap.country = L.geoJSON(provinces, {
      pane: 'base', interactive: false,
      style: { color: '#4e4e4e', weight: 2.5, fillColor: '#f3f1e7', fillOpacity: tiles ? 0 : 1 },
    }).addTo(S.map);
    for (const f of provinces) if (f.properties && f.properties.pcode) S.provinceNames.set(f.properties.pcode, f.properties.name);
    S.basemap.provinces = L.geoJSON(provinces, {
      pane: 'provinces', interactive: false,
      style: { color: '#555', weight: 1.6, fill: false },
    }).addTo(S.map);
    S.basemap.districts = L.geoJSON(districts, {
      pane: 'districts',
      style: (f) => ({
        className: 'district d-' + f.properties.pcode,
        color: '#8d8d8d', weight: 0.6, fillColor: NO_ALERT_FILL, fillOpacity: tiles ? 0.35 : 0.9,
      }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        S.districtLayers.set(p.pcode, layer);
        S.districtInfo.set(p.pcode, { name: p.name, province_name: p.province_name, population: p.population });
        layer.on('click', (e) => { L.DomEvent.stopPropagation(e); openDistrict(p.pcode, e.latlng); });
      },
    }).addTo(S.map);
    S.overlays.set('provinces', { layer: S.basemap.provinces, label: () => t('provinces') });
    S.overlays.set('districts', { layer: S.basemap.districts, label: () => t('districts') });
    if (S.basemap.country.getLayers().length) S.map.fitBounds(S.basemap.country.getBounds());
  }

  // ---------------------------------------------------------------- point layers
  const CCCM_KINDS = new Set(['resettlement_site', 'idp_site', 'accommodation_centre']);
  const BASE_COLLECTIONS = new Set(['country', 'provinces', 'districts', 'hazard_zones', 'districts_at_risk']);

  async function loadPointLayers() {
    let list;
    try { list = (await getJSON('collections')).collections || []; } catch (_) { return; }
    for (const c of list) {
      if (BASE_COLLECTIONS.has(c.id)) continue;
      let probe;
      try { probe = await getJSON('collections/' + encodeURIComponent(c.id) + '/items?limit=1'); } catch (_) { continue; }
      const first = (probe.features || [])[0];
      const kind = first && first.properties && first.properties.kind;
      const total = probe.numberMatched;
      const pl = {
        id: c.id, kind: kind, title: c.title, total: total,
        mode: typeof total === 'number' && total <= WHOLE_LAYER_MAX ? 'whole' : 'bbox',
        group: L.featureGroup(), loaded: false, loading: 0,
      };
      S.pointLayers.push(pl);
      S.overlays.set('pts:' + c.id, {
        layer: pl.group,
        label: () => (t('kinds')[kind] || c.title) + ' (' + c.id + ')' + (pl.mode === 'bbox' ? ' — zoom ≥ ' + BBOX_MIN_ZOOM : ''),
      });
      pl.group.on('add', () => { if (pl.mode === 'whole') loadWholeLayer(pl); else refreshBboxLayers(); });
      // CCCM's own layers (sites, accommodation centres) are on at start. Health
      // facilities and settlements only on demand: at national zoom they would hide the
      // alert colours, and the ones at risk are drawn anyway ("Locais em risco").
      if (CCCM_KINDS.has(kind)) pl.group.addTo(S.map);
    }
    rebuildLayerControl();
    renderDistrictsTable(); // layer kinds are known now: the sites column can leave settlements out
  }

  function pointRadius() {
    // Scale with zoom rather than cluster: at national zoom 1,589 health facilities are
    // 2 px dots that still show where services are; clusters would hide that geography.
    const z = S.map.getZoom();
    return Math.max(2, Math.min(7, (z - 4) * 0.8));
  }

  function pointMarker(f, pl) {
    const [lon, lat] = f.geometry.coordinates;
    const m = L.circleMarker([lat, lon], {
      pane: 'points', radius: pointRadius(), weight: pointOutline(), color: '#ffffff',
      fillColor: POINT_COLOUR[pl.kind] || '#424242', fillOpacity: 0.9,
      className: 'pt pt-' + pl.id,
    });
    m.on('click', (e) => {
      L.DomEvent.stopPropagation(e);
      L.popup().setLatLng(e.latlng).setContent(pointPopup(f.properties, pl.id)).openOn(S.map);
    });
    return m;
  }

  async function loadWholeLayer(pl) {
    if (pl.loaded || pl.loading) return;
    pl.loading = 1;
    try {
      const feats = await getAllItems('collections/' + encodeURIComponent(pl.id) + '/items?limit=1000');
      for (const f of feats) if (f.geometry && f.geometry.type === 'Point') pl.group.addLayer(pointMarker(f, pl));
      pl.loaded = true;
    } catch (e) {
      setStatus(t('update_failed') + ': ' + e.message);
    } finally { pl.loading = 0; }
  }

  async function refreshBboxLayers() {
    const z = S.map.getZoom();
    let hint = '';
    for (const pl of S.pointLayers) {
      if (pl.mode !== 'bbox' || !S.map.hasLayer(pl.group)) continue;
      const seq = (pl.seq = (pl.seq || 0) + 1);
      if (z < BBOX_MIN_ZOOM) {
        pl.group.clearLayers();
        hint = t('zoom_in') + ': ' + (t('kinds')[pl.kind] || pl.id) + ' (zoom ≥ ' + BBOX_MIN_ZOOM + ')';
        continue;
      }
      const b = S.map.getBounds();
      const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(',');
      try {
        const feats = await getAllItems('collections/' + encodeURIComponent(pl.id) + '/items?limit=1000&bbox=' + bbox, BBOX_MAX_PAGES);
        if (seq !== pl.seq) continue; // a newer view has been asked for meanwhile
        pl.group.clearLayers();
        for (const f of feats) if (f.geometry && f.geometry.type === 'Point') pl.group.addLayer(pointMarker(f, pl));
      } catch (e) { setStatus(t('update_failed') + ': ' + e.message); }
    }
    const h = $('hint');
    if (h) h.textContent = hint;
  }

  /** No white outline at national zoom, where it would double the dots' footprint. */
  function pointOutline() { return S.map.getZoom() >= 8 ? 1 : 0; }

  function rescalePoints() {
    const r = pointRadius();
    const w = pointOutline();
    for (const pl of S.pointLayers) pl.group.eachLayer((m) => { m.setRadius(r); m.setStyle({ weight: w }); });
    if (S.alertLayers && S.alertLayers.points) S.alertLayers.points.eachLayer((m) => m.setRadius(r + 2));
  }

  // ---------------------------------------------------------------- alerts: list and polling
  async function refreshAlerts(isPoll) {
    if (S.pollBusy) return;
    S.pollBusy = true;
    try {
      let list;
      try {
        // Test and Exercise versions too, labelled TESTE / EXERCÍCIO: duty officers
        // follow exercises on this map (the public Atom feed leaves them out).
        list = (await getJSON('api/alerts?include_tests=true')).alerts || [];
        S.alertsError = false;
      } catch (e) {
        S.alertsError = true;
        if (!isPoll) renderEvents();
        if (isPoll && S.ogcMode) return; // keep saying where the alert shown comes from
        setStatus(t('update_failed') + ': ' + e.message);
        if (!isPoll && e.status === 404) await showOgcAlert();
        return;
      }
      const before = new Map(S.alerts.map((a) => [a.event_id, a.id]));
      S.alerts = list;
      if (!S.eventId) S.eventId = pickEvent(list);
      renderEvents();
      const mine = list.find((a) => a.event_id === S.eventId);
      const changed = isPoll && before.get(S.eventId) !== (mine && mine.id);
      // A version published before its probabilities were ready is fetched again (its
      // ETag changes when they are attached) until they are there.
      const pending = isPoll && !changed && (probMeta() || {}).status === 'pending' &&
        Date.now() - Date.parse((S.doc.alert || {}).sent) < PENDING_REFETCH_MS;
      if (pending) S.docs.delete(S.alertId);
      if (!isPoll || changed || pending) {
        await loadEvent(S.eventId, changed);
        const lv = S.versions[S.versions.length - 1];
        if (changed && lv) {
          nowText();
          S.announced = { lv: lv, iso: S.lastUpdate };
        }
      }
      if (!changed) nowText();
      statusLine();
    } finally {
      S.pollBusy = false;
    }
  }
  /** The status line: the last new issuance seen on this page stays announced (a duty
   *  officer who looks away must still see that a version arrived), followed by the time
   *  of the last successful poll. */
  function statusLine() {
    const a = S.announced;
    const updated = S.lastUpdate ? t('updated') + ' ' + fmtTime(S.lastUpdate, true) : '';
    if (!a) { setStatus(updated); return; }
    const lv = a.lv;
    const news = t('new_issuance') + ': ' + eventName(lv) + ' v' + lv.version + ' (' +
      (t('msg_types')[lv.msg_type] || lv.msg_type) + ') — ' + fmtTime(a.iso, true);
    setStatus(a.iso === S.lastUpdate ? news : news + ' · ' + updated);
  }
  function nowText() {
    S.lastUpdate = new Date().toISOString();
    return fmtTime(S.lastUpdate, true);
  }

  /** The event shown first: the highest level, then the latest sent. */
  function pickEvent(list) {
    const actual = (a) => (a.status === 'Actual' ? 1 : 0);
    const sorted = list.slice().sort((a, b) => (actual(b) - actual(a)) ||
      (levelRank(b.max_level) - levelRank(a.max_level)) || String(b.sent).localeCompare(String(a.sent)));
    return sorted.length ? sorted[0].event_id : null;
  }

  function startPolling() {
    S.pollTimer = setInterval(() => { if (!document.hidden) refreshAlerts(true); }, POLL_MS);
    // A tab in the background is not polled; it catches up as soon as it is seen again.
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshAlerts(true); });
    window.addEventListener('focus', () => refreshAlerts(true));
  }

  async function loadEvent(eventId, fromPoll) {
    if (!eventId) { S.versions = []; await showAlert(null); return; }
    let ev;
    try { ev = await getJSON('api/events/' + encodeURIComponent(eventId)); } catch (e) {
      // A deep link to an event the service no longer knows: show the default one.
      const alt = pickEvent(S.alerts);
      if (e.status === 404 && !fromPoll && alt && alt !== eventId) {
        S.eventId = alt;
        S.alertId = null;
        S.followLatest = true;
        renderEvents();
        return loadEvent(alt, false);
      }
      setStatus(t('update_failed') + ': ' + e.message);
      return;
    }
    S.versions = ev.versions || [];
    // Events of the same incident (a cyclone and the floods that follow it).
    S.related = ev.related_events || [];
    const latest = S.versions[S.versions.length - 1];
    let id = S.alertId;
    if (S.followLatest || !S.versions.some((v) => v.id === id)) id = latest ? latest.id : null;
    if (fromPoll && id === S.alertId) { renderTimeline(); return; }
    await showAlert(id);
  }

  function selectEvent(eventId) {
    if (eventId === S.eventId) return;
    S.eventId = eventId;
    S.followLatest = true;
    renderEvents();
    loadEvent(eventId, false);
  }

  function selectVersion(id) {
    const latest = S.versions[S.versions.length - 1];
    S.followLatest = !!latest && latest.id === id;
    showAlert(id);
  }

  // ---------------------------------------------------------------- showing one issuance
  async function showAlert(id) {
    let doc = null;
    if (id) {
      doc = S.docs.get(id);
      if (!doc) {
        document.body.dataset.state = 'loading';
        try { doc = await getJSON(alertUrl(id)); } catch (e) {
          setStatus(t('update_failed') + ': ' + e.message);
          document.body.dataset.state = 'ready';
          return;
        }
        S.docs.set(id, doc);
      }
    }
    S.alertId = id;
    S.doc = doc;
    S.docDistricts = new Map();
    for (const f of (doc && doc.features) || []) {
      const p = f.properties || {};
      if ((p.layer === 'district' || p.layer === 'flood_district') && p.pcode) S.docDistricts.set(p.pcode, p);
    }
    updateUrl();
    colourDistricts();
    drawAlertLayers();
    renderAll();
    document.body.dataset.alertId = id || '';
    document.body.dataset.state = 'ready';
  }

  /** A server without the alert store (`aviso serve-layers --alert FILE`) still publishes
   *  its one alert as OGC collections: draw its districts and hazard zones (no track, no
   *  versions, no timeline). */
  async function showOgcAlert() {
    let zones, districts;
    try {
      [zones, districts] = await Promise.all([
        getAllItems('collections/hazard_zones/items?limit=1000'),
        getAllItems('collections/districts_at_risk/items?limit=1000'),
      ]);
    } catch (_) { return; }
    if (!districts.length && !zones.length) return;
    S.doc = { type: 'FeatureCollection', features: zones.concat(districts) };
    S.docDistricts = new Map(districts.map((f) => [f.properties.pcode, f.properties]));
    S.versions = [];
    S.ogcMode = true;
    colourDistricts();
    drawAlertLayers();
    renderAll();
    setStatus(t('ogc_alert'));
  }

  function updateUrl() {
    const u = new URL(location.href);
    u.searchParams.delete('event');
    u.searchParams.delete('alert');
    if (S.eventId) u.searchParams.set('event', S.eventId);
    if (S.alertId && !S.followLatest) u.searchParams.set('alert', S.alertId);
    if (S.view === 'prob') u.searchParams.set('view', 'prob'); else u.searchParams.delete('view');
    history.replaceState(null, '', u.pathname + u.search);
  }

  function colourDistricts() {
    if (!S.basemap.districts) return;
    const tiles = !!(S.config && S.config.tile_url);
    S.basemap.districts.eachLayer((layer) => {
      const pcode = layer.feature.properties.pcode;
      const d = S.docDistricts.get(pcode);
      layer.setStyle(d && d.level
        ? { fillColor: levelColour(d.level, d.level_colour), fillOpacity: tiles ? 0.55 : 0.8, color: '#5a5a5a', weight: 0.8 }
        : { fillColor: NO_ALERT_FILL, fillOpacity: tiles ? 0.2 : 0.9, color: '#8d8d8d', weight: 0.6 });
    });
  }

  function swathColour(kt) { return SWATH_COLOUR[kt] || '#616161'; }
  /** Overlay keys of the official track's footprints, hidden in the probability view. */
  const DET_FOOTPRINT = /^(swath|obs)\d|^(cone|exposed)$/;

  /** How long after a version was sent the page keeps fetching it again for its late
   *  probabilities (the service attaches them within seconds; after a restart it never
   *  will, and the page must not redraw every poll for ever). */
  const PENDING_REFETCH_MS = 15 * 60 * 1000;
  /** What the view says when a version has no probabilities to draw. */
  const PROB_STATUS_TEXT = { failed: 'prob_failed', pending: 'prob_pending', skipped: 'prob_skipped' };
  /** The document's probabilistic part (issue 12), or null. */
  function probMeta() { return (S.doc && S.doc.aviso && S.doc.aviso.probabilistic) || null; }

  /** The view switch (official track / probabilities) with the threshold and window of
   *  the contours; shown for cyclone documents. */
  function renderViewSwitch() {
    if (S.viewControl) { S.map.removeControl(S.viewControl); S.viewControl = null; }
    if (!S.doc || isFloodDoc()) return;
    const meta = probMeta();
    S.viewControl = L.control({ position: 'topright' });
    S.viewControl.onAdd = () => {
      const radio = (v, label) => el('label', null, el('input', {
        type: 'radio', name: 'view', id: 'view-' + v, value: v, checked: S.view === v,
        onchange: () => { S.view = v; updateUrl(); drawAlertLayers(); },
      }), ' ' + label);
      const select = (id, values, cur, unit, set) => el('select', {
        id: id, onchange: (e) => { set(Number(e.target.value)); drawAlertLayers(); },
      }, values.map((v) => el('option', { value: String(v), selected: v === cur, text: v + ' ' + unit })));
      const kts = (meta && meta.thresholds_kt) || [34, 48, 64];
      const hs = (meta && meta.windows_h) || [24, 48, 72, 120];
      const box = el('div', { class: 'view-switch', id: 'view-switch' },
        el('strong', { text: t('view') + ': ' }), radio('det', t('view_det')), radio('prob', t('view_prob')));
      if (S.view === 'prob') {
        if (meta && meta.status === 'ok') {
          box.append(el('div', { class: 'prob-pick' },
            t('wind_kt') + ' ≥ ', select('prob-kt', kts, S.probKt, S.lang === 'pt' ? 'nós' : 'kt', (v) => { S.probKt = v; }),
            ' ' + t('window_h') + ' 0–', select('prob-h', hs, S.probH, 'h', (v) => { S.probH = v; })));
        } else {
          box.append(el('div', { class: 'small', id: 'prob-status', text: t(PROB_STATUS_TEXT[meta && meta.status] || 'prob_none') }));
        }
      }
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    S.viewControl.addTo(S.map);
  }

  function drawAlertLayers() {
    if (S.alertLayers) {
      for (const [key, g] of Object.entries(S.alertLayers)) {
        S.wasOn = S.wasOn || {};
        // The view, not the last on/off, decides the footprints and the contours.
        if (key !== 'prob' && !DET_FOOTPRINT.test(key)) S.wasOn[key] = S.map.hasLayer(g);
        S.map.removeLayer(g);
      }
    }
    for (const key of Array.from(S.overlays.keys())) if (key.startsWith('alert:')) S.overlays.delete(key);
    S.alertLayers = {};
    const doc = S.doc;
    if (!doc) { rebuildLayerControl(); renderLegend(); return; }
    const groups = {};
    const labels = {};
    const defaultsOff = new Set();
    const group = (key, label, off) => {
      if (!groups[key]) { groups[key] = L.featureGroup(); labels[key] = label; if (off) defaultsOff.add(key); }
      return groups[key];
    };
    const r = pointRadius();
    const polys = [];
    for (const f of doc.features || []) {
      const p = f.properties || {};
      const g = f.geometry;
      if (!g) continue;
      switch (p.layer) {
        case 'observed_wind_swath': {
          const kt = p.threshold_kt;
          polys.push([kt + 0.5, L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: '#757575', weight: 1, dashArray: '2 4', fillColor: '#9e9e9e', fillOpacity: 0.06 } }),
            group('obs' + kt, () => t('observed_swath', { kt: kt, kmh: fmtNum(p.threshold_kmh) }), true)]);
          break;
        }
        case 'wind_swath': {
          const kt = p.threshold_kt;
          const c = swathColour(kt);
          polys.push([kt, L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: c, weight: 2, fillColor: c, fillOpacity: 0.07, className: 'swath swath-' + kt } }),
            group('swath' + kt, () => t('swath', { kt: kt, kmh: fmtNum(p.threshold_kmh) }))]);
          break;
        }
        case 'probability_contour':
          // Issue 12: the contours of the chosen threshold and window; higher levels on top.
          if (p.threshold_kt === S.probKt && p.window_h === S.probH) {
            const c = PROB_COLOUR[p.probability] || '#2171b5';
            polys.push([2000 + p.probability, L.geoJSON(f, { pane: 'hazard', interactive: false,
              style: { color: c, weight: 1.5, fillColor: c, fillOpacity: 0.35, className: 'prob-contour prob-' + Math.round(p.probability * 100) } }),
            group('prob', () => t('prob_title', { kt: S.probKt, h: S.probH }))]);
          }
          break;
        case 'cone':
          polys.push([1000, L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: '#1565c0', weight: 2, dashArray: '8 6', fillColor: '#1565c0', fillOpacity: 0.03, className: 'cone' } }),
            group('cone', () => t('cone'))]);
          break;
        case 'exposed_area':
          polys.push([1001, L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: '#6a1b9a', weight: 2.5, fillColor: '#6a1b9a', fillOpacity: 0.1, className: 'exposed' } }),
            group('exposed', () => t('exposed_area'))]);
          break;
        case 'flood_extent':
          L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: '#0d47a1', weight: 1, fillColor: '#1e88e5', fillOpacity: 0.45 } })
            .addTo(group('flood_extent', () => t('flood_extent')));
          break;
        case 'flood_footprint':
          // A station's impact area at its level (basin-downstream, river buffer or set by
          // hand): where its flood is expected, outlined so the districts' colours show.
          L.geoJSON(f, { pane: 'hazard', interactive: false, style: { color: '#0d47a1', weight: 2, dashArray: '5 4', fill: false, className: 'flood-footprint' } })
            .addTo(group('flood_footprint', () => t('flood_footprint')));
          break;
        case 'observed_track':
          L.geoJSON(f, { pane: 'track', interactive: false, style: { color: '#616161', weight: 2 } }).addTo(group('track', () => t('track')));
          break;
        case 'forecast_track':
          L.geoJSON(f, { pane: 'track', interactive: false, style: { color: '#111', weight: 2.5, dashArray: '6 4' } }).addTo(group('track', () => t('track')));
          break;
        case 'track_point':
          // The observed part of a long-lived storm (Freddy: five weeks) is context: its
          // line is drawn, its points only for the last two days.
          if (p.kind === 'forecast' || p.lead_time_h === undefined || p.lead_time_h >= -ANALYSIS_POINTS_H) {
            trackPoint(f, p).addTo(group('track', () => t('track')));
          }
          break;
        case 'point_at_risk':
          riskPoint(f, p, r).addTo(group('points', () => t('points_at_risk')));
          break;
        case 'flood_station':
          stationPoint(f, p).addTo(group('stations', () => t('flood_stations')));
          break;
        case 'flood_point': {
          // A site inside a flood extent (flood maps only; station forecasts have none).
          const [lon, lat] = g.coordinates;
          L.circleMarker([lat, lon], {
            pane: 'points', radius: r + 2, weight: 2, color: '#0d47a1',
            fillColor: POINT_COLOUR[p.kind] || '#424242', fillOpacity: 1, className: 'risk-point flood-point',
          }).on('click', (e) => {
            L.DomEvent.stopPropagation(e);
            L.popup().setLatLng(e.latlng).setContent(factsPopup(p.name || p.id, [
              [t('type'), (t('kind_one')[p.kind] || p.kind || '') + (p.subtype ? ' — ' + p.subtype : '')],
              [t('district'), districtName(p.district_pcode)],
              [t('flood_level'), floodLevelName(p.flood_level)],
              [t('population'), fmtNum(p.population)],
            ])).openOn(S.map);
          }).addTo(group('points', () => t('points_at_risk')));
          break;
        }
        default:
          break;
      }
    }
    // Wider footprints first, so the stronger (smaller) ones are drawn on top.
    polys.sort((a, b) => a[0] - b[0]);
    for (const [, layer, g] of polys) layer.addTo(g);
    for (const [key, g] of Object.entries(groups)) {
      S.alertLayers[key] = g;
      let on = S.wasOn && key in S.wasOn ? S.wasOn[key] : !defaultsOff.has(key);
      // The view decides between the official track's footprints and the contours.
      if (key === 'prob') on = S.view === 'prob';
      else if (DET_FOOTPRINT.test(key)) on = S.view === 'det' && on;
      if (on) g.addTo(S.map);
      S.overlays.set('alert:' + key, { layer: g, label: labels[key] });
    }
    rebuildLayerControl();
    renderLegend();
    declutterLabels();
    renderViewSwitch();
  }

  /** Forecast points near landfall crowd together at national zoom: a label that would
   *  overlap an earlier one is hidden (its point keeps a hover tooltip). Earlier times win:
   *  they matter most to someone preparing now. */
  function declutterLabels() {
    const g = S.alertLayers && S.alertLayers.track;
    if (!g || !S.map.hasLayer(g)) return;
    const shown = [];
    const tips = [];
    g.eachLayer((l) => {
      const tip = l.getTooltip && l.getTooltip();
      if (tip && tip.options.permanent && tip.getElement()) tips.push([l.feature_time || '', tip.getElement()]);
    });
    tips.sort((a, b) => a[0].localeCompare(b[0]));
    for (const [, e] of tips) {
      e.classList.remove('label-hidden');
      const r = e.getBoundingClientRect();
      const hit = shown.some((o) => r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top);
      if (hit) e.classList.add('label-hidden'); else shown.push(r);
    }
  }

  function trackPoint(f, p) {
    const [lon, lat] = f.geometry.coordinates;
    const forecast = p.kind === 'forecast';
    const m = L.circleMarker([lat, lon], {
      pane: 'track', radius: forecast ? 4.5 : 2.5, weight: 1, color: '#111',
      fillColor: forecast ? categoryColour(p.wind_kt_10min) : '#9e9e9e', fillOpacity: 1,
      className: forecast ? 'track-point forecast' : 'track-point',
    });
    m.feature_time = p.time;
    const label = () => fmtTime(p.time, true) + ' · ' + fmtNum(p.wind_kt_10min) + ' kt · ' + ((p.category && p.category[S.lang]) || '');
    m.bindTooltip(label, forecast
      ? { permanent: true, direction: 'auto', offset: [6, 0], className: 'track-label' }
      : { direction: 'top', className: 'track-label' });
    m.on('click', (e) => {
      L.DomEvent.stopPropagation(e);
      const rows = [
        [t(forecast ? 'forecast_point' : 'analysis_point'), fmtTime(p.time) + (forecast ? ' (' + fmtLead(p.lead_time_h) + ')' : '')],
        [t('wind'), fmtNum(p.wind_kt_10min) + ' kt (' + fmtNum(p.wind_kmh_10min) + ' km/h, 10 min)'],
        ['', (p.category && p.category[S.lang]) || ''],
      ];
      if (p.pressure_hpa) rows.push(['hPa', fmtNum(p.pressure_hpa)]);
      L.popup().setLatLng(e.latlng).setContent(factsPopup(stormName(), rows)).openOn(S.map);
    });
    return m;
  }
  function stormName() { return (S.doc && S.doc.aviso && S.doc.aviso.storm && S.doc.aviso.storm.name) || ''; }
  /** SWIO intensity classes (10-min wind, DOMAIN.md): colour of a forecast point. */
  function categoryColour(kt) {
    if (kt >= 90) return '#7b1fa2';
    if (kt >= 64) return '#c62828';
    if (kt >= 48) return '#ef6c00';
    if (kt >= 34) return '#fbc02d';
    return '#90caf9';
  }

  function riskPoint(f, p, r) {
    const [lon, lat] = f.geometry.coordinates;
    const m = L.circleMarker([lat, lon], {
      pane: 'points', radius: r + 2, weight: 2, color: swathColour(p.max_threshold_kt),
      fillColor: POINT_COLOUR[p.kind] || '#424242', fillOpacity: 1, className: 'risk-point',
    });
    m.on('click', (e) => {
      L.DomEvent.stopPropagation(e);
      L.popup().setLatLng(e.latlng).setContent(sitePopup(p)).openOn(S.map);
    });
    return m;
  }

  function stationPoint(f, p) {
    const [lon, lat] = f.geometry.coordinates;
    const m = L.circleMarker([lat, lon], {
      pane: 'points', radius: p.level ? 7 : 4, weight: 2, color: '#0d47a1',
      fillColor: levelColour(p.level, p.level_colour), fillOpacity: p.level ? 1 : 0.3,
      className: 'flood-station fs-' + p.station_id + (p.level ? ' at-level' : ''),
    });
    if (p.level) {
      // Stations above a threshold are few and are what the alert is about: named on the map.
      m.bindTooltip(() => stationName(p.name) + ' · ' + floodLevelName(p.flood_level), {
        permanent: true, direction: 'right', offset: [8, 0], className: 'track-label station-label',
      });
    }
    m.on('click', (e) => {
      L.DomEvent.stopPropagation(e);
      L.popup({ maxWidth: 360 }).setLatLng(e.latlng).setContent(stationPopup(p)).openOn(S.map);
    });
    return m;
  }

  /** "Changane em Chibuto (Limpopo)" for a station id of the shown flood document. */
  function stationLabel(id) {
    const st = ((S.doc && S.doc.features) || []).map((f) => f.properties || {}).find((p) => p.layer === 'flood_station' && p.station_id === id);
    return st ? stationName(st.name) + ' (' + st.river + ')' : id;
  }

  function stationPopup(p) {
    const rows = [
      [t('river'), p.river || '–'],
      [t('level'), badge(p.level, p.level_colour)],
      [t('flood_level'), floodLevelName(p.flood_level)],
    ];
    if (p.flood_level) {
      rows.push([t('probability'), fmtShare(peakShare(p)) + ' ' + t('of_members')]);
      rows.push([t('peak'), fmtTime(p.peak_date)]);
      rows.push([t('first_day'), fmtTime(p.first_date && p.first_date[p.flood_level])]);
    }
    const impact = p.impact_districts || [];
    if (impact.length) rows.push([t('districts'), impact.map(districtName).join(', ')]);
    const days = p.days || [];
    const levels = ['bankfull', 'moderate', 'severe'];
    const table = days.length ? el('table', { class: 'days' },
      el('thead', null, el('tr', null, el('th', { text: t('day') }), levels.map((l) => el('th', { class: 'num', text: t('flood_level_short')[l] })))),
      el('tbody', null, days.map((d) => el('tr', { class: d.date === p.peak_date && p.flood_level ? 'peak' : null },
        el('td', { text: fmtTime(d.date) }), levels.map((l) => el('td', { class: 'num', text: fmtShare(d.probability && d.probability[l]) })))))) : null;
    const box = factsPopup(stationName(p.name) + ' (' + t('station') + ' ' + p.station_id + ')', rows);
    if (table) box.append(el('p', { class: 'small', text: t('per_day') }), table);
    return box;
  }

  // ---------------------------------------------------------------- popups
  function factsPopup(title, rows) {
    return el('div', null, el('h3', { text: title }),
      el('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', null, v)])));
  }

  /** The points each wind threshold's footprint holds in a district, outermost first. */
  function pointsInside(d) {
    if (!d || !d.wind) return null;
    const kts = Object.keys(d.wind).map(Number).sort((a, b) => a - b);
    return kts.length ? (d.wind[String(kts[0])] || d.wind[kts[0].toFixed(1)] || {}).points_inside || null : null;
  }
  function pointsText(obj) {
    if (!obj) return '';
    return Object.entries(obj).map(([k, v]) => shortLayer(k) + ' ' + fmtNum(v)).join(' · ');
  }
  /** A layer's kind, from the alert document's layer list (or the loaded point layers). */
  function layerKind(id) {
    const l = ((S.doc && S.doc.aviso && S.doc.aviso.layers) || []).find((x) => x.name === id);
    if (l) return l.kind;
    const pl = S.pointLayers.find((p) => p.id === id);
    return pl && pl.kind;
  }
  function shortLayer(id) {
    const kind = layerKind(id);
    return (kind ? t('kinds')[kind] : id) + (kind === 'settlement' ? ' (' + id + ')' : '');
  }

  function openDistrict(pcode, latlng) {
    const info = S.districtInfo.get(pcode) || {};
    const d = S.docDistricts.get(pcode);
    const title = (d ? d.name : info.name || pcode) + ' (' + pcode + ')';
    const rows = [[t('province'), (d ? d.province_name : info.province_name) || '–']];
    if (d && d.level) {
      rows.push([t('level'), badge(d.level, d.level_colour)]);
      // Which rule set the level: the official track, or a probability rule with its P.
      const why = S.lang === 'pt' ? d.level_reason_pt : d.level_reason_en;
      if (why) rows.push([t('level_why'), why]);
      rows.push([t('people_at_risk'), el('strong', { class: 'par', text: fmtNum(d.people_at_risk) })]);
      rows.push([t('population'), fmtNum(d.population)]);
      if (d.wind) {
        const kts = Object.keys(d.wind).map(Number).sort((a, b) => a - b);
        for (const kt of kts) {
          const w = d.wind[String(kt)] || {};
          rows.push(['≥ ' + kt + ' kt', fmtNum(w.people_at_risk) + ' ' + t('people') +
            (w.first_arrival ? ' · ' + fmtTime(w.first_arrival, true) + ' (' + fmtLead(w.lead_time_h) + ')' : '')]);
        }
      }
      if (d.flood_level) rows.push([t('flood_level'), floodLevelName(d.flood_level)]);
      if (d.stations && d.stations.length) rows.push([t('station'), d.stations.map(stationLabel).join(', ')]);
      if (d.first_date) rows.push([d.flood_level ? t('first_day') : t('arrival'), fmtTime(d.first_date)]);
      if (d.in_cone !== undefined) rows.push([t('in_cone'), d.in_cone ? t('yes') : t('no')]);
      if (d.in_exposed_area !== undefined) rows.push([t('in_exposed'), d.in_exposed_area ? t('yes') : t('no')]);
      const pts = pointsInside(d);
      if (pts) rows.push([t('points_inside'), pointsText(pts)]);
      if (d.safe_shelters && d.safe_shelters.length) rows.push([t('shelters'), sheltersList(d.safe_shelters)]);
    } else {
      rows.push([t('level'), t('no_alert')]);
      rows.push([t('population'), fmtNum(info.population)]);
    }
    S.selectedDistrict = pcode;
    markSelectedRow();
    L.popup({ maxWidth: 340 }).setLatLng(latlng).setContent(factsPopup(title, rows)).openOn(S.map);
  }

  function sheltersList(list) {
    return el('ul', { class: 'small' }, list.slice(0, 3).map((s) =>
      el('li', null, s.name + ' — ' + fmtNum(s.distance_km, 1) + ' ' + t('km') +
        (s.capacity ? ' · ' + t('capacity') + ' ' + fmtNum(s.capacity) : '') +
        (s.kind ? ' (' + (t('kind_one')[s.kind] || s.kind) + ')' : ''))));
  }

  function sitePopup(p) {
    const rows = [
      [t('type'), (t('kind_one')[p.kind] || p.kind || '') + (p.subtype ? ' — ' + p.subtype : '')],
      [t('district'), districtName(p.district_pcode)],
      [t('wind'), '≥ ' + fmtNum(p.max_threshold_kt) + ' kt'],
      [t('first_arrival'), fmtTime(p.first_arrival) + ' (' + fmtLead(p.lead_time_h) + ')'],
      [t('population'), fmtNum(p.population)],
    ];
    if (p.households) rows.push([t('households'), fmtNum(p.households)]);
    rows.push([t('shelters'), p.safe_shelters && p.safe_shelters.length ? sheltersList(p.safe_shelters) : t('none')]);
    return factsPopup(p.name || p.id, rows);
  }

  function pointPopup(p, layerId) {
    const atRisk = S.doc && (S.doc.features || []).find((f) => f.properties && f.properties.layer === 'point_at_risk' &&
      f.properties.source_layer === layerId && f.properties.id === p.id);
    if (atRisk) return sitePopup(atRisk.properties);
    const rows = [
      [t('type'), (t('kind_one')[p.kind] || p.kind || '') + (p.subtype ? ' — ' + p.subtype : '')],
      [t('district'), districtName(p.district_pcode)],
    ];
    if (p.population !== null && p.population !== undefined) rows.push([t('population'), fmtNum(p.population)]);
    if (p.households) rows.push([t('households'), fmtNum(p.households)]);
    if (p.capacity) rows.push([t('capacity'), fmtNum(p.capacity)]);
    return factsPopup(p.name || p.id, rows);
  }

  function districtName(pcode) {
    if (!pcode) return '–';
    const i = S.districtInfo.get(pcode);
    return i ? i.name : pcode;
  }

  // ---------------------------------------------------------------- layer control and legend
  function rebuildLayerControl() {
    if (!S.map) return;
    if (S.layerControl) S.map.removeControl(S.layerControl);
    const overlays = {};
    for (const [, o] of S.overlays) overlays[o.label()] = o.layer;
    S.layerControl = L.control.layers(null, overlays, { collapsed: true, position: 'topright' }).addTo(S.map);
  }

  function renderLegend() {
    if (S.legend) S.map.removeControl(S.legend);
    S.legend = L.control({ position: 'bottomleft' });
    S.legend.onAdd = () => {
      const rows = [];
      const sw = (cls, style, label) => el('div', { class: 'row' }, el('span', { class: 'sw ' + cls, style: style }), label);
      for (const l of LEVELS.slice().reverse()) rows.push(sw('', { background: LEVEL_COLOUR[l] }, levelName(l)));
      rows.push(sw('', { background: NO_ALERT_FILL }, t('no_level')));
      const kts = new Set();
      let hasCone = false, hasExposed = false, hasTrack = false, hasPoints = false, hasStations = false, hasExtent = false;
      for (const f of (S.doc && S.doc.features) || []) {
        const p = f.properties || {};
        if (p.layer === 'wind_swath') kts.add(p.threshold_kt);
        hasCone = hasCone || p.layer === 'cone';
        hasExposed = hasExposed || p.layer === 'exposed_area';
        hasTrack = hasTrack || p.layer === 'forecast_track';
        hasPoints = hasPoints || p.layer === 'point_at_risk';
        hasStations = hasStations || p.layer === 'flood_station';
        hasExtent = hasExtent || p.layer === 'flood_extent';
      }
      const meta = probMeta();
      if (S.view === 'prob' && meta && meta.status === 'ok') {
        rows.push(el('div', { class: 'row prob-legend-title' }, el('strong', { text: t('prob_title', { kt: S.probKt, h: S.probH }) })));
        for (const lv of (meta.contour_levels || [0.1, 0.3, 0.5, 0.7, 0.9])) {
          rows.push(sw('prob-sw', { background: PROB_COLOUR[lv] || '#2171b5' }, '≥ ' + fmtNum(lv * 100) + ' %'));
        }
        rows.push(el('div', { class: 'row small', text: t('prob_realisations', { n: fmtNum(meta.realisations) }) }));
      }
      for (const kt of S.view === 'prob' ? [] : Array.from(kts).sort((a, b) => a - b)) {
        rows.push(sw('line', { borderColor: swathColour(kt) }, '≥ ' + kt + ' kt'));
      }
      if (hasCone && S.view !== 'prob') rows.push(sw('dash', { borderColor: '#1565c0' }, t('cone')));
      if (hasExposed && S.view !== 'prob') rows.push(sw('line', { borderColor: '#6a1b9a' }, t('exposed_area')));
      if (hasTrack) rows.push(sw('dash', { borderColor: '#111' }, t('track')));
      if (hasStations) rows.push(sw('dot', { background: '#fff', borderColor: '#0d47a1', borderWidth: '2px' }, t('flood_stations')));
      if (hasExtent) rows.push(sw('', { background: '#1e88e5', borderColor: '#0d47a1' }, t('flood_extent')));
      if (hasPoints) rows.push(sw('dot', { background: '#fff', borderColor: '#b71c1c', borderWidth: '2px' }, t('points_at_risk')));
      for (const pl of S.pointLayers) {
        if (S.map.hasLayer(pl.group)) rows.push(sw('dot', { background: POINT_COLOUR[pl.kind] || '#424242' }, t('kinds')[pl.kind] || pl.id));
      }
      // Folded on a phone, where it would cover a third of the map.
      if (S.legendOpen === undefined) S.legendOpen = window.innerWidth > 760;
      const d = el('details', { class: 'legend', id: 'legend', open: S.legendOpen }, el('summary', { text: t('legend') }), rows);
      d.addEventListener('toggle', () => { S.legendOpen = d.open; });
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    S.legend.addTo(S.map);
  }

  // ---------------------------------------------------------------- side panel
  function renderAll() {
    renderEvents();
    renderIssuance();
    renderDistrictsTable();
    renderSitesTable();
  }

  function renderEvents() {
    const ul = $('events');
    ul.replaceChildren();
    if (S.alertsError && !S.alerts.length) { ul.append(el('li', { class: 'empty', text: t(S.ogcMode ? 'ogc_alert' : 'no_service') })); return; }
    if (!S.alerts.length) { ul.append(el('li', { class: 'empty', text: t('no_events') })); return; }
    for (const a of S.alerts) {
      ul.append(el('li', null, el('button', {
        type: 'button', 'aria-pressed': String(a.event_id === S.eventId), 'data-event': a.event_id,
        onclick: () => selectEvent(a.event_id),
      },
      badge(a.max_level),
      el('span', { class: 'ev-name', text: eventName(a) }),
      statusTag(a.status),
      el('span', { class: 'ev-meta' }, (t('hazards')[a.hazard] || a.hazard) + ' · v' + a.version, el('br'), fmtTime(issuedAt(a), true)))));
    }
  }

  function currentSummary() {
    return (S.doc && S.doc.alert) || S.versions.find((v) => v.id === S.alertId) || null;
  }

  function renderIssuance() {
    const sec = $('issuance-section');
    const doc = S.doc;
    if (!doc || (!doc.aviso && !currentSummary())) { sec.hidden = true; return; }
    sec.hidden = false;
    const a = doc.aviso || {};
    const s = currentSummary() || {};
    const name = s.event_name ? eventName(s) : (a.storm && a.storm.name) || '';
    $('issuance-title').replaceChildren(name + ' — ', el('span', { id: 'issuance-hazard', text: t('hazards')[a.hazard || s.hazard] || '' }), ' ', statusTag(s.status) || '');
    const flood = (a.hazard || s.hazard) === 'flood';
    const rows = [];
    if (s.version) rows.push([t('version'), 'v' + s.version + ' · ' + (t('msg_types')[s.msg_type] || s.msg_type || '')]);
    rows.push([t('sent'), fmtTime(s.sent || a.issued)]);
    if (flood && a.issued) rows.push([t('forecast_issued'), el('span', { id: 'flood-issued', text: fmtTime(a.issued) })]);
    if (a.reference_time) rows.push([t('reference'), fmtTime(a.reference_time)]);
    if (a.valid_from) rows.push([t('valid'), fmtTime(a.valid_from) + ' – ' + fmtTime(a.valid_to)]);
    const lvl = a.event_level;
    if (lvl) rows.push([t('event_level'), el('span', null, badge(lvl.code, lvl.colour), ' ', S.lang === 'pt' ? lvl.meaning_pt : lvl.meaning_en)]);
    if (a.peak_forecast_wind_kt_10min) rows.push([t('peak_wind'), fmtNum(a.peak_forecast_wind_kt_10min) + ' kt (10 min)']);
    if (a.landfall) rows.push([t('landfall'), fmtTime(a.landfall.time) + ' (' + fmtLead(a.landfall.lead_time_h) + '), ' + fmtNum(a.landfall.wind_kt_10min) + ' kt']);
    if (a.trigger) {
      const why = triggerReason(a.trigger).text;
      rows.push([t('trigger'), el('span', { id: 'trigger' }, el('strong', { text: t('triggers')[a.trigger.state] || a.trigger.state }), why ? ' — ' + why : '')]);
    }
    if (flood) rows.push(...floodRows(doc, a));
    if ((S.related || []).length) {
      const links = S.related.map((e) => {
        const b = el('button', { type: 'button', class: 'linklike related-event', text: (t('hazards')[e.hazard] || '') + ' ' + eventName(e) });
        b.addEventListener('click', () => selectEvent(e.event_id));
        return b;
      });
      rows.push([t('same_incident'), el('span', { id: 'related-events' }, ...links.flatMap((b, i) => (i ? [', ', b] : [b])))]);
    }
    const totals = (a.totals && a.totals.national) || [];
    for (const n of totals) rows.push([t('people_at_risk') + ' ≥ ' + n.threshold_kt + ' kt', fmtNum(n.people_at_risk) + ' · ' + fmtNum(n.districts) + ' ' + t('districts_n')]);
    if (s.msg_type === 'Cancel') rows.push(['', el('strong', { text: t('cancelled') })]);
    if (s.msg_type === 'Error') rows.push(['', el('strong', { text: t('withdrawn') })]);
    // Why a Cancel came without a new forecast (the event expired), in the page's language.
    const why = S.lang === 'pt' ? (s.reason_pt || s.reason) : s.reason;
    if (why) rows.push([t('reason'), el('span', { id: 'cancel-reason', text: why })]);
    $('issuance').replaceChildren(el('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', null, v)])));
    renderTimeline();
    renderChanges(s);
    renderDownloads(s);
  }

  /** The stations of a flood document above a threshold, highest level first. */
  function stationsAtLevel(doc) {
    return ((doc && doc.features) || []).map((f) => f.properties || {})
      .filter((p) => p.layer === 'flood_station' && p.level)
      .sort((x, y) => levelRank(y.level) - levelRank(x.level));
  }
  /** The share of members above the station's highest flood level on its peak day. */
  function peakShare(p) {
    const day = (p.days || []).find((d) => d.date === p.peak_date);
    return day && day.probability && p.flood_level ? day.probability[p.flood_level] : null;
  }
  /** The panel rows only a flood alert has: stations at a level (river, flood level,
   *  probability, peak), the forecast peak, people at risk and the probability rule. */
  function floodRows(doc, a) {
    const rows = [];
    const stations = stationsAtLevel(doc);
    if (stations.length) {
      rows.push([t('stations_at_level'), el('ul', { class: 'stations', id: 'flood-stations' }, stations.map((p) =>
        el('li', { 'data-station': p.station_id },
          el('strong', { text: stationName(p.name) }), ' — ' + t('river') + ' ' + (p.river || '–') + ': ',
          badge(p.level, p.level_colour), ' ' + floodLevelName(p.flood_level) + ' · ' + fmtShare(peakShare(p)) + ' ' + t('of_members') +
          ' · ' + t('peak').toLowerCase() + ' ' + fmtTime(p.peak_date))))]);
      // The peak of the event: the earliest peak among the stations at the highest level.
      const top = stations.filter((p) => p.level === stations[0].level).map((p) => p.peak_date).filter(Boolean).sort();
      if (top.length) rows.push([t('peak'), el('span', { id: 'flood-peak', text: fmtTime(top[0]) })]);
    }
    const tot = a.totals || {};
    if (tot.people_at_risk !== undefined) {
      rows.push([t('people_at_risk'), fmtNum(tot.people_at_risk) + ' · ' + fmtNum(tot.districts) + ' ' + t('districts_n')]);
    }
    const pctRule = a.methods && a.methods.min_probability_pct;
    if (pctRule !== undefined && pctRule !== null) rows.push([t('rule'), el('span', { class: 'small', text: t('members_rule', { pct: fmtNum(pctRule) }) })]);
    return rows;
  }

  /** The time that names an issuance: the forecast's reference time (what forecasters
   *  and the table call "the 06 UTC forecast"), else when it was sent. A replay sends
   *  old forecasts now, so only the reference time tells its versions apart. */
  function issuedAt(v) {
    // A flood forecast is a day's product, issued for a date (its reference time is that
    // day's midnight UTC): show the date itself, never shifted to another time zone.
    if (v.hazard === 'flood' && v.reference_time) return String(v.reference_time).slice(0, 10);
    return v.reference_time || v.sent;
  }

  function renderTimeline() {
    const box = $('timeline');
    box.replaceChildren();
    const vs = S.versions;
    if (!vs.length) return;
    const idx = Math.max(0, vs.findIndex((v) => v.id === S.alertId));
    const label = (v) => 'v' + v.version + ' · ' + fmtTime(issuedAt(v), true) + ' · ' + levelName(v.max_level) +
      (v.msg_type === 'Cancel' || v.msg_type === 'Error' ? ' · ' + t('msg_types')[v.msg_type] : '');
    if (vs.length > 16) {
      // Many issuances (a replayed season): a slider instead of a wall of buttons.
      const range = el('input', { type: 'range', min: 0, max: vs.length - 1, step: 1, value: idx, id: 'timeline-range', 'aria-label': t('timeline') });
      range.addEventListener('input', () => { $('timeline-label').textContent = label(vs[Number(range.value)]); });
      range.addEventListener('change', () => selectVersion(vs[Number(range.value)].id));
      box.append(range, el('div', { class: 'tl-label', id: 'timeline-label', text: label(vs[idx]) }));
      return;
    }
    vs.forEach((v, i) => {
      box.append(el('button', {
        type: 'button', 'aria-pressed': String(i === idx), 'data-alert': v.id, title: label(v),
        style: { borderBottomColor: levelColour(v.max_level) },
        onclick: () => selectVersion(v.id),
      }, 'v' + v.version + ' ' + fmtTime(issuedAt(v), true)));
    });
  }

  function renderChanges(s) {
    const box = $('changes');
    box.replaceChildren();
    const c = s && s.changes;
    if (!c) return;
    const parts = [];
    for (const k of ['added', 'raised', 'lowered', 'removed']) {
      const list = c[k] || [];
      if (!list.length) continue;
      // Long lists (a storm leaving 20 districts of the cone) fold under their count.
      const text = list.map((x) => x.name + ' (' + levelName(x.old) + ' → ' + levelName(x.new) + ')').join('; ');
      parts.push(el('li', null, list.length > 5
        ? el('details', null, el('summary', null, el('strong', { text: t(k) }), ' (' + list.length + ')'), text)
        : [el('strong', { text: t(k) + ': ' }), text]));
    }
    if (parts.length) box.append(el('h3', { text: t('changes') }), el('ul', null, parts));
  }

  function renderDownloads(s) {
    const p = $('downloads');
    p.replaceChildren();
    if (!S.alertId) return;
    const links = (s && s.links) || {};
    p.append(t('download') + ': ',
      el('a', { href: sameOrigin(links.self || alertUrl(S.alertId)) || alertUrl(S.alertId), download: S.alertId + '.geojson', type: 'application/geo+json', id: 'dl-geojson' }, 'GeoJSON'),
      el('a', { href: sameOrigin(links.cap || alertUrl(S.alertId) + '/cap') || alertUrl(S.alertId) + '/cap', download: S.alertId + '.cap.xml', type: 'application/cap+xml', id: 'dl-cap' }, 'CAP 1.2'),
      el('a', { href: '#', id: 'dl-csv-districts', onclick: (e) => { e.preventDefault(); downloadCsv('districts'); } }, t('csv_districts')),
      el('a', { href: '#', id: 'dl-csv-sites', onclick: (e) => { e.preventDefault(); downloadCsv('sites'); } }, t('csv_sites')));
    // Where the people at risk would go (issue 14): the sheet a COE takes into a meeting.
    // Cyclone and flood versions alike; a Cancel or an Error has nothing to plan.
    if (s && s.msg_type !== 'Cancel' && s.msg_type !== 'Error') {
      p.append(el('a', { href: alertUrl(S.alertId) + '/plan?lang=' + S.lang, id: 'dl-plan', target: '_blank', rel: 'noopener', type: 'text/html' }, t('plan')));
    }
  }

  // ---------------------------------------------------------------- tables
  const DISTRICT_COLUMNS = [
    { key: 'province', label: 'province', value: (r) => r.province_name || '' },
    { key: 'district', label: 'district', value: (r) => r.name || r.pcode },
    { key: 'level', label: 'level', value: (r) => levelRank(r.level), show: (r) => badge(r.level, r.level_colour), csv: (r) => r.level || '' },
    { key: 'people', label: 'people_at_risk', num: true, value: (r) => r.people_at_risk ?? -1, show: (r) => fmtNum(r.people_at_risk), csv: (r) => r.people_at_risk ?? '' },
    { key: 'arrival', label: 'arrival', num: true, value: (r) => r.lead_time_h ?? Infinity, show: (r) => arrivalShort(r), csv: (r) => r.first_arrival || r.first_date || '' },
    // Sites, accommodation centres and health facilities inside; settlements are where
    // people live, not sites, and two settlement layers count the same villages twice.
    { key: 'sites', label: 'sites_inside', num: true, value: (r) => sitesInside(r),
      show: (r) => el('span', { title: pointsText(pointsInside(r)) }, fmtNum(sitesInside(r))), csv: (r) => pointsCsv(pointsInside(r)) },
    // Issue 12: the share of realisations bringing gales / cyclone-force winds within 72 h.
    { key: 'p34_72', label: 'p34_72', num: true, prob: true, value: (r) => r.p_ge34kt_0_72h ?? -1, show: (r) => fmtShare(r.p_ge34kt_0_72h), csv: (r) => r.p_ge34kt_0_72h ?? '' },
    { key: 'p64_72', label: 'p64_72', num: true, prob: true, value: (r) => r.p_ge64kt_0_72h ?? -1, show: (r) => fmtShare(r.p_ge64kt_0_72h), csv: (r) => r.p_ge64kt_0_72h ?? '' },
  ];
  const SITE_COLUMNS = [
    { key: 'name', label: 'name', value: (r) => r.name || r.id },
    { key: 'type', label: 'type', value: (r) => t('kind_one')[r.kind] || r.kind || '', csv: (r) => r.kind || '' },
    { key: 'district', label: 'district', value: (r) => districtName(r.district_pcode), csv: (r) => r.district_pcode || '' },
    { key: 'wind', label: 'wind', num: true, value: (r) => r.max_threshold_kt ?? -1, show: (r) => '≥ ' + fmtNum(r.max_threshold_kt) + ' kt', csv: (r) => r.max_threshold_kt ?? '' },
    { key: 'arrival', label: 'arrival', num: true, value: (r) => r.lead_time_h ?? Infinity, show: (r) => arrivalShort(r), csv: (r) => r.first_arrival || '' },
    { key: 'population', label: 'population', num: true, value: (r) => r.population ?? -1, show: (r) => fmtNum(r.population), csv: (r) => r.population ?? '' },
    { key: 'shelters', label: 'shelters', value: (r) => (r.safe_shelters || []).length,
      show: (r) => el('span', { class: 'small', text: (r.safe_shelters || []).slice(0, 3).map((s) => s.name + ' ' + fmtNum(s.distance_km, 1) + ' km').join('; ') || t('none') }),
      csv: (r) => (r.safe_shelters || []).map((s) => s.name + ' (' + s.distance_km + ' km)').join('; ') },
  ];
  function isFloodDoc() { return !!(S.doc && S.doc.aviso && S.doc.aviso.hazard === 'flood'); }
  /** A flood alert's districts have a first day at their level, not a wind arrival, and
   *  no count of sites inside (a station forecast does not place water within a district). */
  function districtColumns() {
    if (isFloodDoc()) return DISTRICT_COLUMNS.filter((c) => c.key !== 'sites' && !c.prob);
    // Probability columns only when the version has a probabilistic assessment.
    const meta = probMeta();
    return meta && meta.status === 'ok' ? DISTRICT_COLUMNS : DISTRICT_COLUMNS.filter((c) => !c.prob);
  }
  function colLabel(c) { return t(c.key === 'arrival' && isFloodDoc() ? 'first_day' : c.label); }
  /** The lead time, with the arrival time (CAT) on hover: the column stays narrow. */
  function arrivalShort(r) {
    if (r.first_date) return fmtTime(r.first_date);
    if (r.lead_time_h === null || r.lead_time_h === undefined) return '–';
    return el('span', { title: fmtTime(r.first_arrival) }, fmtLead(r.lead_time_h));
  }
  function sitesInside(r) {
    const o = pointsInside(r);
    if (!o) return 0;
    return Object.entries(o).filter(([id]) => layerKind(id) !== 'settlement').reduce((a, [, n]) => a + n, 0);
  }
  function pointsCsv(o) { return o ? Object.entries(o).map(([k, v]) => k + '=' + v).join('; ') : ''; }

  function districtRows() {
    return Array.from(S.docDistricts.values()).filter((d) => d.level);
  }
  function siteRows() {
    return ((S.doc && S.doc.features) || []).map((f) => f.properties || {}).filter((p) => p.layer === 'point_at_risk');
  }

  function sortRows(rows, columns, sort) {
    const col = columns.find((c) => c.key === sort.key) || columns[0];
    const tie = (r) => r.people_at_risk ?? r.population ?? 0;
    return rows.slice().sort((a, b) => {
      const x = col.value(a), y = col.value(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), t('locale'));
      return (c || (tie(a) - tie(b))) * sort.dir;
    });
  }

  function renderTable(tableId, sectionId, columns, rows, sortKey, emptyText, onRow) {
    const sec = $(sectionId);
    const table = $(tableId);
    if (!S.doc) { sec.hidden = true; return; }
    sec.hidden = false;
    const sort = S.sort[sortKey];
    const head = el('tr', null, columns.map((c) => el('th', {
      class: c.num ? 'num' : null, 'aria-sort': c.key === sort.key ? (sort.dir > 0 ? 'ascending' : 'descending') : null, 'data-key': c.key,
    }, el('button', {
      type: 'button',
      onclick: () => {
        S.sort[sortKey] = { key: c.key, dir: sort.key === c.key ? -sort.dir : (c.num || c.key === 'level' ? -1 : 1) };
        renderDistrictsTable(); renderSitesTable();
      },
    }, colLabel(c)))));
    const body = el('tbody');
    if (!rows.length) body.append(el('tr', null, el('td', { colspan: columns.length, class: 'empty', text: t(emptyText) })));
    for (const r of sortRows(rows, columns, sort)) {
      body.append(el('tr', { 'data-id': r.pcode || r.id, onclick: () => onRow(r) },
        columns.map((c) => el('td', { class: c.num ? 'num' : null }, c.show ? c.show(r) : c.value(r)))));
    }
    table.replaceChildren(el('thead', null, head), body);
  }

  function renderDistrictsTable() {
    renderTable('districts-table', 'districts-section', districtColumns(), districtRows(), 'districts', 'no_districts', (r) => {
      const layer = S.districtLayers.get(r.pcode);
      if (!layer) return;
      S.map.fitBounds(layer.getBounds(), { maxZoom: 9 });
      openDistrict(r.pcode, layer.getBounds().getCenter());
    });
    markSelectedRow();
  }

  function renderSitesTable() {
    const rows = siteRows();
    // The type column only when the sites are of more than one type.
    const oneKind = new Set(rows.map((r) => r.kind)).size <= 1;
    const columns = SITE_COLUMNS.filter((c) => !(oneKind && c.key === 'type'));
    renderTable('sites-table', 'sites-section', columns, rows, 'sites', 'no_sites', (r) => {
      const f = ((S.doc && S.doc.features) || []).find((x) => x.properties === r);
      if (!f || !f.geometry) return;
      const [lon, lat] = f.geometry.coordinates;
      S.map.setView([lat, lon], Math.max(S.map.getZoom(), 10));
      L.popup().setLatLng([lat, lon]).setContent(sitePopup(r)).openOn(S.map);
    });
  }

  function markSelectedRow() {
    for (const tr of document.querySelectorAll('#districts-table tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.id === S.selectedDistrict);
    }
  }

  /** The table as CSV, built here from the same rows: numbers unformatted and times in
   *  UTC (RFC 3339) so spreadsheets and scripts read them; a BOM so Excel sees UTF-8. */
  function downloadCsv(which) {
    const columns = which === 'districts' ? districtColumns() : SITE_COLUMNS;
    const rows = sortRows(which === 'districts' ? districtRows() : siteRows(), columns, S.sort[which]);
    const lead = which === 'districts' ? ['pcode'] : ['id', 'layer'];
    // Flood days are dates, not times: no time zone to name.
    const header = lead.concat(columns.map((c) => colLabel(c) + (c.key === 'arrival' && !isFloodDoc() ? ' (UTC)' : '')));
    const lines = [header];
    for (const r of rows) {
      const head = which === 'districts' ? [r.pcode] : [r.id, r.source_layer];
      lines.push(head.concat(columns.map((c) => (c.csv ? c.csv(r) : c.value(r)))));
    }
    const esc = (v) => {
      const s = v === null || v === undefined ? '' : String(v);
      return /[",\n\r;]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    const text = '\ufeff' + lines.map((l) => l.map(esc).join(',')).join('\r\n') + '\r\n';
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    const a = el('a', { href: url, download: 'aviso_' + (S.alertId || 'alert') + '_' + which + '.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---------------------------------------------------------------- language
  function applyLanguage() {
    document.documentElement.lang = S.lang;
    document.title = 'aviso — ' + t('title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    $('map').setAttribute('aria-label', t('map_label'));
    const other = S.lang === 'pt' ? 'en' : 'pt';
    const b = $('lang');
    b.textContent = other.toUpperCase();
    b.setAttribute('lang', other);
    b.title = other === 'en' ? 'English' : 'Português';
  }

  function toggleLanguage() {
    S.lang = S.lang === 'pt' ? 'en' : 'pt';
    try { localStorage.setItem('aviso.lang', S.lang); } catch (_) { /* private mode */ }
    applyLanguage();
    if (S.lastUpdate) statusLine();
    if (S.map) S.map.closePopup();
    renderAll();
    rebuildLayerControl();
    renderLegend();
    renderViewSwitch();
    // Permanent tooltips hold formatted text: refresh them.
    for (const g of Object.values(S.alertLayers || {})) {
      g.eachLayer((l) => { if (l.getTooltip && l.getTooltip()) l.setTooltipContent(l.getTooltip()._content); });
    }
    declutterLabels();
    refreshBboxLayers();
  }

  // ---------------------------------------------------------------- start
  async function main() {
    applyLanguage();
    $('lang').addEventListener('click', toggleLanguage);
    $('panel-toggle').addEventListener('click', () => {
      document.body.classList.toggle('panel-hidden');
      S.map.invalidateSize();
    });
    setStatus(t('loading'));
    document.body.dataset.state = 'loading';
    initMap();
    await loadConfig();
    try {
      await loadBasemap();
    } catch (e) {
      setStatus(t('update_failed') + ': ' + e.message);
    }
    renderLegend();
    await refreshAlerts(false);
    if (!S.doc) renderAll();
    document.body.dataset.state = 'ready';
    startPolling();
    loadPointLayers(); // after the alert: the page is usable before the point layers arrive
  }

  main();
})();
