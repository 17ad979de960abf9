//! What the admin API, the opt-out routes and the gateway's callbacks answer when they
//! refuse: [`AdminError`] and its JSON body (`code`, `description`, and the `field`,
//! `subscriber`, CSV `line` or `gateway_id` where they apply), with `WWW-Authenticate` on a
//! 401.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::notify::subscriber::SubscriberError;
use crate::store::StoreError;

/// Errors of the admin and opt-out routes: JSON bodies with a `code`, a `description`,
/// and for input errors the `field`, the `subscriber` id and (CSV) the `line`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No token, or one not configured (401, with `WWW-Authenticate`).
    #[error("{message}")]
    Unauthorized { invalid: bool, message: String },
    /// A token whose role is too low (403).
    #[error("{message}")]
    Forbidden { message: String },
    /// A subscriber field (or CSV cell) is wrong (422).
    #[error("{}{}{}{message}",
        subscriber.as_ref().map(|s| format!("subscriber {s:?}: ")).unwrap_or_default(),
        line.map(|l| format!("CSV line {l}: ")).unwrap_or_default(),
        field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Invalid {
        subscriber: Option<String>,
        line: Option<u64>,
        field: Option<String>,
        message: String,
    },
    /// A body that is not JSON, or a bad query (400).
    #[error("{0}")]
    BadRequest(String),
    /// A body over the route's limit (413).
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected a body of type {expected}, found {found:?}")]
    UnsupportedMediaType {
        expected: &'static str,
        found: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// A gateway callback whose body lacks a field or holds a bad value (400, naming the
    /// `field`).
    #[error("field `{field}`: {message}")]
    BadField { field: String, message: String },
    /// A delivery report for a message id the outbox does not hold (404, naming it).
    #[error(
        "no SMS in the outbox has the gateway message id {gateway_id:?} (the id the gateway answered when it took the message)"
    )]
    UnknownMessage { gateway_id: String },
    #[error("{0}")]
    Conflict(String),
    /// No subscribers on this server (no store).
    #[error("subscribers are not served here: start `aviso serve`")]
    Disabled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SubscriberError> for AdminError {
    fn from(e: SubscriberError) -> Self {
        match e {
            SubscriberError::Invalid {
                subscriber,
                line,
                field,
                expected,
                found,
            } => AdminError::Invalid {
                subscriber: Some(subscriber),
                line,
                field: Some(field),
                message: format!("expected {expected}, found {found}"),
            },
            SubscriberError::Csv {
                line,
                column,
                message,
            } => AdminError::Invalid {
                subscriber: None,
                line,
                field: column,
                message,
            },
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            AdminError::Forbidden { .. } => (StatusCode::FORBIDDEN, "Forbidden"),
            AdminError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "InvalidSubscriber"),
            AdminError::BadRequest(_) | AdminError::BadField { .. } => {
                (StatusCode::BAD_REQUEST, "BadRequest")
            }
            AdminError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge"),
            AdminError::UnknownMessage { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            AdminError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            AdminError::NotFound(_) | AdminError::Disabled => (StatusCode::NOT_FOUND, "NotFound"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            AdminError::Internal(_) => {
                tracing::error!(error = %self, "api: internal error");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "internal server error\n",
                )
                    .into_response();
            }
        };
        let mut body = AdminErrorBody {
            code,
            description: self.to_string(),
            subscriber: None,
            line: None,
            field: None,
            gateway_id: None,
        };
        match &self {
            AdminError::Invalid {
                subscriber,
                line,
                field,
                ..
            } => {
                body.subscriber = Some(subscriber.clone());
                body.line = Some(*line);
                body.field = Some(field.clone());
            }
            AdminError::BadField { field, .. } => body.field = Some(Some(field.clone())),
            AdminError::UnknownMessage { gateway_id } => body.gateway_id = Some(gateway_id.clone()),
            _ => {}
        }
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        if let AdminError::Unauthorized { invalid, .. } = &self {
            // RFC 6750 §3: the scheme, and error="invalid_token" when one was sent.
            let v = if *invalid {
                r#"Bearer realm="aviso", error="invalid_token""#
            } else {
                r#"Bearer realm="aviso""#
            };
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        resp
    }
}

/// The body of a 4xx of the admin API and the gateway's callbacks (the schema
/// `adminError` of the OpenAPI document). The optional members appear only on the errors
/// they belong to; on a 422 `subscriber`, `line` and `field` are always there, null when
/// unknown.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = adminError)]
pub(crate) struct AdminErrorBody {
    /// What went wrong, as a word: Unauthorized, Forbidden, InvalidSubscriber, BadRequest,
    /// PayloadTooLarge, UnsupportedMediaType, NotFound, Conflict.
    code: &'static str,
    /// In plain words, naming the subscriber, CSV line and field where they apply.
    description: String,
    /// (422) The subscriber's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    subscriber: Option<Option<String>>,
    /// (422 of a CSV import) The line of the file, header = 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    line: Option<Option<u64>>,
    /// (422, and 400 of a callback) The field: phones[0], districts[1], polygon[0]…
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    field: Option<Option<String>>,
    /// (404 of a delivery report) The gateway's message id no SMS has.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    gateway_id: Option<String>,
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unauthorized_answer_names_the_bearer_scheme() {
        let r = AdminError::Unauthorized {
            invalid: true,
            message: "unknown token".into(),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let h = r.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert!(h.to_str().unwrap().contains("invalid_token"));
    }
}
