//! `[[notify.token]]`: the admin API's bearer tokens and the roles they carry.

use serde::{Deserialize, Serialize};

/// What a bearer token of the admin API may do. Ordered: each role includes the ones
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read subscribers (personal data), the export and the outbox.
    Viewer,
    /// Also create, update, deactivate and import subscribers; edit proposals (issue 13).
    Editor,
    /// Also approve or reject proposals, lift overrides (issue 13; SAMBRO's ALERT_APPROVER).
    Approver,
    /// Everything: also reactivate an opted-out subscriber and list the tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// `[[notify.token]]`: one bearer token of the admin API. The token itself is never in a
/// file: either its SHA-256 is (`sha256`), or it is read from an environment variable at
/// start (`token_env`), hashed, and the plain value dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (named in the audit log lines), e.g. "cenoe-ops".
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, 64 hex digits: `printf %s "$TOKEN" | sha256sum`.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Or: the environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
}
