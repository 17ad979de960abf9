//! Who may call the admin API and the SMS gateway's callbacks: the bearer tokens (kept as
//! SHA-256 hashes, compared in constant time) and their roles, the gateway's shared
//! secret, and the two routes that tell who holds a token (`/api/admin/whoami`,
//! `/api/admin/tokens`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AdminError, AdminErrorBody, GatewayCallbacks, NotifyApi, json_response, notify_api};
use crate::api::ApiState;
use crate::notify::config::Role;

/// One accepted bearer token: its holder's name, role, and the token's SHA-256 (the token
/// itself is never kept).
#[derive(Clone)]
pub struct AdminToken {
    pub name: String,
    pub role: Role,
    pub(super) sha256: [u8; 32],
    /// "config" (a hash in the file) or "env" (read from a variable).
    pub source: &'static str,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AdminToken({}, {:?}, {})",
            self.name, self.role, self.source
        )
    }
}

/// SHA-256 of a secret, as bytes.
pub fn sha256(secret: &str) -> [u8; 32] {
    let d = Sha256::digest(secret.as_bytes());
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

pub(super) fn from_hex(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

/// Compares two digests in time independent of where they differ (no early exit), so a
/// caller cannot learn a hash byte by byte from response times.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]).into()
}

impl NotifyApi {
    /// The gateway's callbacks, if the request carries their shared secret (in the
    /// configured header or as `?token=`, compared in constant time). `what` names the
    /// route in the 404 when neither replies nor reports are accepted.
    pub(crate) fn gateway(
        &self,
        headers: &HeaderMap,
        token: Option<String>,
        what: &str,
    ) -> Result<&GatewayCallbacks, AdminError> {
        let Some(cb) = &self.callbacks else {
            return Err(AdminError::NotFound(format!(
                "{what} are not accepted here"
            )));
        };
        let presented = headers
            .get(cb.header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(token);
        if !presented.is_some_and(|p| ct_eq(&sha256(&p), &cb.secret_sha256)) {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: format!(
                    "expected the shared secret in the {} header or as ?token=",
                    cb.header
                ),
            });
        }
        Ok(cb)
    }

    /// The token whose hash matches `presented`. Every configured hash is compared, in
    /// constant time each, whatever matched first.
    pub fn find_token(&self, presented: &str) -> Option<&AdminToken> {
        let h = sha256(presented);
        let mut found = None;
        for t in &self.tokens {
            if ct_eq(&t.sha256, &h) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }

    /// The holder of the request's bearer token, if its role reaches `need`.
    pub fn authorize(&self, headers: &HeaderMap, need: Role) -> Result<&AdminToken, AdminError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(AdminError::Unauthorized {
                invalid: false,
                message: "no bearer token: send `Authorization: Bearer <token>`".into(),
            });
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(presented) = presented else {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: "the Authorization header is not `Bearer <token>`".into(),
            });
        };
        let Some(t) = self.find_token(presented) else {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: if self.tokens.is_empty() {
                    "no admin token is configured on this server ([[notify.token]])".into()
                } else {
                    "unknown token".into()
                },
            });
        };
        if t.role < need {
            return Err(AdminError::Forbidden {
                message: format!(
                    "token {:?} has the role {}; this needs {}",
                    t.name,
                    t.role.as_str(),
                    need.as_str()
                ),
            });
        }
        Ok(t)
    }
}

/// `GET /api/admin/whoami`: the token's holder and role (any role).
#[utoipa::path(get, path = "/api/admin/whoami", tag = "admin", operation_id = "whoami",
    summary = "The token's holder and role",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "name, role", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn whoami(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let t = api.authorize(&headers, Role::Viewer)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"name": t.name, "role": t.role.as_str()}),
    ))
}

/// `GET /api/admin/tokens` (admin): who holds a token, with which role (no hashes).
#[utoipa::path(get, path = "/api/admin/tokens", tag = "admin", operation_id = "listTokens",
    summary = "Who holds a token, with which role (no hashes)",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "tokens", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn tokens(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Admin)?;
    let list: Vec<Value> = api
        .tokens
        .iter()
        .map(|t| json!({"name": t.name, "role": t.role.as_str(), "source": t.source}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"tokens": list})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let a = sha256("tok-1");
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[31] ^= 1;
        assert!(!ct_eq(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!ct_eq(&a, &b));
    }

    #[test]
    fn a_hex_hash_reads_back_to_the_digest() {
        // `printf %s example-token-do-not-use | sha256sum` (coreutils), as in
        // config/notify.example.toml.
        let h = "3690a4a2ed3b26b46a696e9ab873a300d9da3ae56bc84352e2bf724885c91dfd";
        assert_eq!(from_hex(h), Some(sha256("example-token-do-not-use")));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
