//! The subscribers' own ways out: `/unsubscribe?token=…` (the link at the foot of every
//! e-mail; a small page in Portuguese and English) and `POST /api/sms/inbound` (replies an
//! SMS gateway forwards; STOP, PARAR or SAIR puts the number on the opt-out list, START,
//! COMEÇAR, INICIAR or VOLTAR takes it off again).
//!
//! Why `GET /unsubscribe` only asks and `POST` acts: mail security scanners (Microsoft
//! Safe Links, Proofpoint…) open every link of an incoming message; a GET that
//! unsubscribed would unsubscribe INGD's focal points behind their backs. The page's one
//! button POSTs, and so do mail clients' one-click unsubscribe (RFC 8058).
//!
//! An adapter at the edge (axum, the notify store). The answers and the log lines never
//! carry a phone number, an address or a name. Must not depend on the pipeline.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::ApiState;
use super::admin::{AdminError, call, notify_api};
use crate::notify::subscriber::{normalise_e164, redact_phone};

/// Decodes `application/x-www-form-urlencoded` (WHATWG URL §5: `+` is a space, `%XX` a
/// byte; invalid escapes are kept as typed). Pairs in order.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Safe in text and in quoted attributes alike (&, <, >, " and ' escaped).
fn html_escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

/// A small page, Portuguese first then English; no script, no external resource (it must
/// load on a poor connection).
fn page(status: StatusCode, title: &str, pt: &str, en: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"pt\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4}}\
         button{{font-size:1.1em;padding:.5em 1em}}</style></head><body>\
         <h1>{title}</h1>{pt}<hr><div lang=\"en\">{en}</div></body></html>\n"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn token_of(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Option<String> {
    q.ok()?
        .0
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn no_token() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "aviso",
        "<p>Esta ligação está incompleta: falta o código de cancelamento. Use a ligação completa que recebeu por e-mail.</p>",
        "<p>This link is incomplete: the unsubscribe code is missing. Use the whole link from your e-mail.</p>",
    )
}

/// `GET /unsubscribe?token=…`: asks for confirmation (see the module doc for why).
#[utoipa::path(get, path = "/unsubscribe", tag = "opt-out", operation_id = "unsubscribePage",
    summary = "The e-mail link: a page that asks (a GET changes nothing: mail scanners open links)",
    params(("token" = Option<String>, Query, description = "The subscriber's unsubscribe token (from the e-mail's link)")),
    responses(
        (status = 200, description = "The confirmation page (pt, en)", content_type = "text/html", body = String),
        (status = 400, description = "No token", content_type = "text/html", body = String),
        (status = 404, description = "Subscribers are not served here", body = super::Exception)))]
pub(crate) async fn unsubscribe_page(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    notify_api(&state)?;
    let Some(token) = token_of(q) else {
        return Ok(no_token());
    };
    let t = html_escape(&token);
    let form = |label: &str| {
        format!(
            "<form method=\"post\" action=\"/unsubscribe\"><input type=\"hidden\" name=\"token\" value=\"{t}\">\
             <button type=\"submit\">{label}</button></form>"
        )
    };
    Ok(page(
        StatusCode::OK,
        "Cancelar alertas · Unsubscribe",
        &format!(
            "<p>Deixará de receber os alertas de ciclones e cheias do aviso (INGD).</p>{}",
            form("Cancelar a subscrição")
        ),
        &format!(
            "<p>You will no longer receive aviso's cyclone and flood alerts (INGD).</p>{}",
            form("Unsubscribe")
        ),
    ))
}

/// `POST /unsubscribe`: the token from the form (`token=…`) or from the query (one-click,
/// RFC 8058, posts `List-Unsubscribe=One-Click` to the link itself).
#[utoipa::path(post, path = "/unsubscribe", tag = "opt-out", operation_id = "unsubscribe",
    summary = "Unsubscribe (the page's button, or one-click per RFC 8058)",
    params(("token" = Option<String>, Query, description = "The subscriber's unsubscribe token (from the e-mail's link)")),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
        description = "token (the page's form), or List-Unsubscribe=One-Click with the token in the query (RFC 8058)"),
    responses(
        (status = 200, description = "Unsubscribed (pt, en)", content_type = "text/html", body = String),
        (status = 400, description = "No token", content_type = "text/html", body = String),
        (status = 404, description = "Unknown token", content_type = "text/html", body = String)))]
pub(crate) async fn unsubscribe(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let token = token_of(q).or_else(|| {
        form_pairs(&body)
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    });
    let Some(token) = token else {
        return Ok(no_token());
    };
    match call(&api, move |s| s.unsubscribe_token(&token, Utc::now())).await? {
        Some(id) => {
            tracing::info!(subscriber = %id, "opt-out: unsubscribed through the e-mail link");
            Ok(page(
                StatusCode::OK,
                "Subscrição cancelada · Unsubscribed",
                "<p>A sua subscrição foi cancelada: não receberá mais alertas do aviso. Para voltar a recebê-los, contacte o INGD.</p>",
                "<p>You have been unsubscribed and will receive no more aviso alerts. To receive them again, contact INGD.</p>",
            ))
        }
        None => Ok(page(
            StatusCode::NOT_FOUND,
            "aviso",
            "<p>Esta ligação de cancelamento não é válida. Verifique que a copiou inteira.</p>",
            "<p>This unsubscribe link is not valid. Check that you copied all of it.</p>",
        )),
    }
}

/// `POST /api/sms/inbound`: a reply forwarded by the SMS gateway, form-encoded
/// (Africa's Talking-style `from`, `text`; the field names are configurable). The
/// gateway proves itself with the shared secret, in the configured header or as
/// `?token=` in the callback URL. A first word among the stop words opts the number out;
/// one among the start words lifts that (someone who sent STOP by mistake comes back).
#[utoipa::path(post, path = "/api/sms/inbound", tag = "sms-gateway", operation_id = "smsInbound",
    summary = "A reply forwarded by the SMS gateway",
    description = "First word STOP, PARAR or SAIR ([notify.inbound] stop_words): no more SMS to the number. START, COMEÇAR, COMECAR, INICIAR or VOLTAR (start_words): the number's STOP is lifted, and subscribers whom that STOP had made inactive are active again. Anything else is ignored.",
    security(("gatewaySecretHeader" = []), ("gatewaySecretQuery" = [])),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
        description = "from: the sender (field name: [notify.inbound] from_field); text: the reply (text_field)"),
    responses(
        (status = 200, description = "action: stopped, started or ignored, with counts", content_type = "application/json", body = Object),
        (status = 400, description = "The body lacks a field or holds a bad value (`field` names it)", body = super::admin::AdminErrorBody),
        (status = 401, description = "No shared secret, or a wrong one", body = super::admin::AdminErrorBody),
        (status = 404, description = "These callbacks are not accepted here (off in [notify]), or (reports) no SMS has that message id (`gateway_id` names it)", body = super::admin::AdminErrorBody),
        (status = 422, description = "The sender's number is not a phone number (`field` names it)", body = super::admin::AdminErrorBody)))]
pub(crate) async fn sms_inbound(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let cb = api.gateway(&headers, token_of(q), "forwarded SMS replies")?;
    let Some(inbound) = &cb.replies else {
        return Err(AdminError::NotFound(
            "forwarded SMS replies are not accepted here ([notify.inbound] enabled = false)".into(),
        ));
    };
    let form = form_pairs(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let from_field = inbound.from_field.clone();
    let Some(from) = field(&from_field) else {
        return Err(AdminError::Invalid {
            subscriber: None,
            line: None,
            field: Some(from_field),
            message: "expected the sender's number, found no such form field".into(),
        });
    };
    let phone = normalise_e164(&from).map_err(|(expected, found)| AdminError::Invalid {
        subscriber: None,
        line: None,
        field: Some(from_field.clone()),
        message: format!("expected {expected}, found {found}"),
    })?;
    let text = field(&inbound.text_field).unwrap_or_default();
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_uppercase();
    let is = |words: &[String]| words.iter().any(|w| w.trim().to_uppercase() == first);
    let shown = redact_phone(&phone);
    let answer = |v: serde_json::Value| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    if is(&inbound.start_words) {
        let r = call(&api, move |s| s.resubscribe_phone(&phone, Utc::now())).await?;
        tracing::info!(
            number = %shown,
            word = %first,
            was_opted_out = r.was_opted_out,
            subscribers = r.subscribers.len(),
            reactivated = r.reactivated.len(),
            "opt-in: a start word: SMS to the number resume"
        );
        return Ok(answer(json!({
            "action": "started",
            "was_opted_out": r.was_opted_out,
            "subscribers": r.subscribers.len(),
            "reactivated": r.reactivated.len(),
        })));
    }
    if !is(&inbound.stop_words) {
        return Ok(answer(json!({"action": "ignored"})));
    }
    let ids = call(&api, move |s| s.unsubscribe_phone(&phone, Utc::now())).await?;
    tracing::info!(
        number = %shown,
        word = %first,
        subscribers = ids.len(),
        "opt-out: a stop word: no more SMS to the number"
    );
    Ok(answer(
        json!({"action": "stopped", "subscribers": ids.len()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_plus_and_percent_escapes() {
        let p = form_pairs(b"from=%2B258841234567&text=Stop+please&to=12345&bad=%zz");
        assert_eq!(p[0], ("from".into(), "+258841234567".into()));
        assert_eq!(p[1], ("text".into(), "Stop please".into()));
        assert_eq!(p[3], ("bad".into(), "%zz".into()));
        assert_eq!(
            form_pairs("text=PARAR%20j%C3%A1".as_bytes())[0].1,
            "PARAR já"
        );
    }
}
