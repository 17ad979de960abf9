// The operations page (issue 13): sign in with an admin API token, review the proposals
// waiting for an approver, edit one (a district's level by hand with a reason, an
// instruction), approve or reject them, lift a manual level, read the audit trail. Everything goes
// through the admin API with the token as a bearer header: no cookie is ever set, so no
// other site can make this browser act on the API (no CSRF surface). The token lives in
// sessionStorage (this tab only, gone when it closes). Every text from the server is set
// with textContent, never parsed as HTML.
"use strict";

const LEVEL_PT = { green: "verde", yellow: "amarelo", orange: "laranja", red: "vermelho" };
const MSG_PT = { Alert: "Alerta", Update: "Actualização", Cancel: "Cancelamento" };
const BASIS_PT = { official_track: "trajectória oficial", probability: "probabilidade", held: "mantido", held_pending: "mantido (à espera das probabilidades)", station_forecast: "previsão das estações", flood_map: "mapa de cheia" };
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
  $("messages-summary").textContent = m.total + " mensagens" + (per ? " (" + per + ")" : "") + ".";
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
  $("edit-form").hidden = p.state !== "proposed";
  $("instruction").textContent = r.instruction_pt
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
if (token()) signIn(token());
