// The operations page (issue 13): sign in with an admin API token, review the proposals
// waiting for an approver, edit one (a district's level by hand with a reason, an
// instruction), approve or reject them, lift a manual level, cancel an alert in force or
// withdraw it as an error, hold an event's notifications, read the audit trail. Everything goes
// through the admin API with the token as a bearer header: no cookie is ever set, so no
// other site can make this browser act on the API (no CSRF surface). The token lives in
// sessionStorage (this tab only, gone when it closes). Every text from the server is set
// with textContent, never parsed as HTML.
"use strict";

const LEVEL_PT = { green: "verde", yellow: "amarelo", orange: "laranja", red: "vermelho" };
const MSG_PT = { Alert: "Alerta", Update: "Actualização", Cancel: "Cancelamento", Error: "Erro (retirada)" };
const BASIS_PT = { official_track: "trajectória oficial", probability: "probabilidade", held: "mantido", held_pending: "mantido (à espera das probabilidades)", station_forecast: "previsão das estações", flood_map: "mapa de cheia" };
const OUTBOX_PT = { pending: "por enviar", sending: "a enviar", delivered: "entregues", failed: "falhadas" };
const STATE_PT = { proposed: "proposta", published: "publicada", rejected: "rejeitada", superseded: "substituída" };
let current = null;

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("aviso-token");

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, { headers }));
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch (_) { body = text; }
  if (!r.ok) {
    const why = (body && body.description) || text || r.statusText;
    throw new Error(r.status + ": " + why);
  }
  return body;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "—" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function level(l) { return l ? (LEVEL_PT[l] || l) : "—"; }

async function signIn(t) {
  sessionStorage.setItem("aviso-token", t);
  try {
    const me = await api("/api/admin/whoami");
    $("who").textContent = me.name + " (" + me.role + ")";
    $("signin").hidden = true;
    $("signout").hidden = false;
    $("queue-section").hidden = false;
    $("audit-section").hidden = false;
    $("events-section").hidden = false;
    $("signin-error").textContent = "";
    await refresh();
  } catch (e) {
    sessionStorage.removeItem("aviso-token");
    $("signin-error").textContent = "Não foi possível entrar: " + e.message;
  }
}

async function refresh() {
  const q = await api("/api/admin/proposals");
  const body = $("queue").querySelector("tbody");
  body.replaceChildren();
  for (const p of q.proposals) {
    const tr = document.createElement("tr");
    tr.dataset.id = p.id;
    cell(tr, p.id);
    cell(tr, p.event_name + " (" + p.event_id + ")");
    cell(tr, MSG_PT[p.msg_type] || p.msg_type);
    cell(tr, p.status);
    cell(tr, level(p.max_level), p.max_level ? "level-" + p.max_level : "");
    cell(tr, p.reference_time);
    cell(tr, p.created_at);
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Rever";
    b.addEventListener("click", () => review(p.id));
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("queue-empty").hidden = q.proposals.length > 0;
  await events();
  await audit();
}

async function review(id) {
  $("review-error").textContent = "";
  $("review-result").textContent = "";
  const r = await api("/api/admin/proposals/" + id);
  current = r.proposal;
  const p = r.proposal;
  $("review-section").hidden = false;
  $("review-title").textContent = "Proposta " + p.id + ": " + (MSG_PT[p.msg_type] || p.msg_type) +
    " " + p.event_name + ", versão " + p.version + " (" + (STATE_PT[p.state] || p.state) + ")";
  $("review-summary").textContent = "Previsão de " + p.reference_time + "; publicada em vigor: " +
    (r.published ? r.published.id + " (versão " + r.published.version + ")" : "nenhuma") +
    ". Alterações: " + r.changes.added.length + " novos, " + r.changes.raised.length +
    " subidos, " + r.changes.lowered.length + " descidos, " + r.changes.removed.length + " retirados.";
  const body = $("districts").querySelector("tbody");
  body.replaceChildren();
  for (const d of r.districts) {
    const tr = document.createElement("tr");
    if (d.published_level !== d.level) tr.className = "changed";
    cell(tr, d.pcode);
    cell(tr, d.name);
    cell(tr, level(d.published_level), d.published_level ? "level-" + d.published_level : "");
    cell(tr, level(d.level), "level-" + d.level);
    cell(tr, d.override
      ? "manual (" + d.override.by + "): " + d.override.reason +
        " — previsão: " + level(d.override.automatic_level)
      : BASIS_PT[d.level_basis] || d.level_basis, d.override ? "override" : "");
    cell(tr, d.people_at_risk == null ? "—" : Math.round(d.people_at_risk).toLocaleString("pt-MZ"));
    body.appendChild(tr);
  }
  const m = r.messages;
  const per = Object.entries(m.by_channel).map(([k, n]) => n + " " + k).join(", ");
  // A published proposal shows what was queued for its version; a held event says so.
  $("messages-title").textContent = m.published
    ? "Mensagens da versão publicada " + m.alert_id
    : "Mensagens que sairiam agora";
  const held = m.held
    ? " Notificações retidas por " + m.held.by + ": " + m.held.reason +
      (m.withheld != null ? " (" + m.withheld + " mensagens retidas)" : "") + "."
    : "";
  const states = m.by_state
    ? Object.entries(m.by_state).map(([k, n]) => n + " " + (OUTBOX_PT[k] || k)).join(", ")
    : "";
  $("messages-summary").textContent = (m.published ? "Publicada: " : "") + m.total +
    (m.published ? " mensagens em fila ou enviadas" : " mensagens") +
    (per ? " (" + per + ")" : "") + (states ? " — " + states : "") + "." + held;
  const ul = $("sms-texts");
  ul.replaceChildren();
  for (const s of m.sms) {
    const li = document.createElement("li");
    li.textContent = "SMS para " + s.recipients + " (" + s.count.segments + " segmento(s), " +
      s.count.encoding + "): " + s.text;
    ul.appendChild(li);
  }
  for (const e of m.email) {
    const li = document.createElement("li");
    li.textContent = "E-mail para " + e.recipients + ": " + e.subject;
    ul.appendChild(li);
  }
  $("actions").hidden = p.state !== "proposed";
  // A Cancel or Error is not edited: it says why instead.
  const withdrawal = p.msg_type === "Cancel" || p.msg_type === "Error";
  $("edit-form").hidden = p.state !== "proposed" || withdrawal;
  $("instruction").textContent = withdrawal && r.alert.reason_pt
    ? "Motivo: " + r.alert.reason_pt + (r.alert.reason ? " / " + r.alert.reason : "")
    : r.instruction_pt
      ? "Instrução adicional: " + r.instruction_pt + (r.instruction_en ? " / " + r.instruction_en : "")
      : "";
  const sel = $("edit-district");
  sel.replaceChildren();
  for (const d of r.districts) {
    const o = document.createElement("option");
    o.value = d.pcode;
    o.textContent = d.pcode + " — " + d.name + " (" + level(d.level) + ")";
    sel.appendChild(o);
  }
  await overrides(p.event_id);
}

async function overrides(event) {
  const o = await api("/api/admin/overrides?event=" + encodeURIComponent(event));
  const body = $("overrides").querySelector("tbody");
  body.replaceChildren();
  for (const x of o.overrides.filter((x) => x.active)) {
    const tr = document.createElement("tr");
    tr.dataset.id = x.id;
    cell(tr, x.id);
    cell(tr, x.pcode);
    cell(tr, level(x.level), "level-" + x.level);
    cell(tr, x.reason);
    cell(tr, x.created_by);
    cell(tr, x.expires_at || "até ser levantado");
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Levantar";
    b.addEventListener("click", () => lift(x.id));
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

async function lift(id) {
  $("review-error").textContent = "";
  try {
    await api("/api/admin/overrides/" + id + "/lift", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (current) await overrides(current.event_id);
    await audit();
    $("review-result").textContent = "Levantado: " + id + " (vale a partir da próxima proposta).";
  } catch (e) {
    $("review-error").textContent = "Recusado: " + e.message;
  }
}

async function edit(ev) {
  ev.preventDefault();
  if (!current) return;
  $("review-error").textContent = "";
  const pcode = $("edit-pcode").value.trim() || $("edit-district").value;
  const expires = $("edit-expires").value;
  const body = {
    districts: [{
      pcode,
      level: $("edit-level").value,
      reason: $("edit-reason").value,
      expires_at: expires ? expires + ":00Z" : null,
    }],
    instruction_pt: $("edit-instruction-pt").value || null,
    instruction_en: $("edit-instruction-en").value || null,
  };
  try {
    const r = await api("/api/admin/proposals/" + current.id + "/edit", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    for (const id of ["edit-pcode", "edit-reason", "edit-expires", "edit-instruction-pt", "edit-instruction-en"]) {
      $(id).value = "";
    }
    await review(r.proposal.id);
    await refresh();
    $("review-result").textContent = "Editada: nova proposta " + r.proposal.id +
      " (a proposta " + r.edited + " foi substituída). Outro aprovador deve aprová-la.";
  } catch (e) {
    $("review-error").textContent = "Recusado: " + e.message;
  }
}

async function decide(what) {
  if (!current) return;
  $("review-error").textContent = "";
  $("review-result").textContent = "";
  const body = what === "approve" ? { note: $("note").value } : { reason: $("reason").value };
  try {
    const r = await api("/api/admin/proposals/" + current.id + "/" + what, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    // The review is reloaded first: it clears the result line, which is then set.
    await review(current.id);
    await refresh();
    $("review-result").textContent = what === "approve"
      ? "Publicada: " + r.alert_id + " — " + r.messages_queued + " mensagens em fila."
      : "Rejeitada.";
  } catch (e) {
    $("review-error").textContent = "Recusado: " + e.message;
  }
}

// The alerts in force, each with its notification hold, and the approver's actions on
// them (a Cancel or Error by hand becomes a proposal; a hold or its lift acts at once).
let selected = null;

async function events() {
  const [a, h] = await Promise.all([
    api("/api/alerts?include_tests=true"),
    api("/api/admin/holds"),
  ]);
  const body = $("events").querySelector("tbody");
  body.replaceChildren();
  for (const s of a.alerts) {
    const hold = h.holds.find((x) => x.event_id === s.event_id && x.active);
    const tr = document.createElement("tr");
    tr.dataset.event = s.event_id;
    tr.dataset.alert = s.id;
    cell(tr, s.event_name + " (" + s.event_id + ")");
    cell(tr, s.id + " (versão " + s.version + ")");
    cell(tr, MSG_PT[s.msg_type] || s.msg_type);
    cell(tr, s.status);
    cell(tr, level(s.max_level), s.max_level ? "level-" + s.max_level : "");
    cell(tr, hold ? "retidas por " + hold.by + ": " + hold.reason +
      (hold.expires_at ? " (até " + hold.expires_at + ")" : "") : "enviadas", hold ? "held" : "");
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Gerir";
    b.addEventListener("click", () => manage(s));
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("events-empty").hidden = a.alerts.length > 0;
}

function manage(s) {
  selected = s;
  $("event-form").hidden = false;
  $("event-title").textContent = s.event_name + " — versão em vigor " + s.id;
  $("event-result").textContent = "";
  $("event-error").textContent = "";
}

async function eventAction(what) {
  if (!selected) return;
  $("event-result").textContent = "";
  $("event-error").textContent = "";
  const path = "/api/admin/events/" + encodeURIComponent(selected.event_id) + "/" +
    (what === "lift" ? "hold/lift" : what);
  const expires = $("hold-expires").value;
  const body = what === "cancel" || what === "error"
    ? { reason_pt: $("hand-pt").value, reason_en: $("hand-en").value }
    : what === "hold"
      ? { reason: $("hold-reason").value, expires_at: expires ? expires + ":00Z" : null }
      : { reason: $("hold-reason").value || null };
  try {
    const r = await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    for (const id of ["hand-pt", "hand-en", "hold-reason", "hold-expires"]) $(id).value = "";
    await refresh();
    if (r.proposal) {
      await review(r.proposal.id);
      $("review-result").textContent = "Proposta " + r.proposal.id + " (" +
        (MSG_PT[r.proposal.msg_type] || r.proposal.msg_type) +
        ") criada. Outro aprovador deve aprová-la.";
    }
    $("event-result").textContent = r.proposal
      ? "Proposta " + r.proposal.id + " criada: veja a revisão acima."
      : what === "hold"
        ? "Notificações retidas (retenção " + r.hold.id + ")."
        : "Retenção levantada: nada é enviado retroactivamente; a próxima versão notifica.";
  } catch (e) {
    $("event-error").textContent = "Recusado: " + e.message;
  }
}

async function audit() {
  const a = await api("/api/admin/audit?limit=10000");
  const body = $("audit").querySelector("tbody");
  body.replaceChildren();
  // Newest first, token use left out (it is in the CSV export).
  const rows = a.entries.filter((e) => e.action !== "token_used").reverse().slice(0, 100);
  for (const e of rows) {
    const tr = document.createElement("tr");
    cell(tr, e.id);
    cell(tr, e.at);
    cell(tr, e.actor);
    cell(tr, e.action);
    cell(tr, e.subject);
    cell(tr, e.reason);
    body.appendChild(tr);
  }
}

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("token").value);
  $("token").value = "";
});
$("signout").addEventListener("click", () => {
  sessionStorage.removeItem("aviso-token");
  location.reload();
});
$("refresh").addEventListener("click", () => refresh());
$("approve").addEventListener("click", () => decide("approve"));
$("reject").addEventListener("click", () => decide("reject"));
$("edit-form").addEventListener("submit", edit);
$("hand-cancel").addEventListener("click", () => eventAction("cancel"));
$("hand-error").addEventListener("click", () => eventAction("error"));
$("hold").addEventListener("click", () => eventAction("hold"));
$("hold-lift").addEventListener("click", () => eventAction("lift"));
if (token()) signIn(token());
