//! SMS delivery reports (DLR): what a gateway's receipt says about one message, read from
//! its callback fields for the three profiles: Africa's Talking-style (`id`, `status`,
//! `failureReason`), Twilio-style (`MessageSid`, `MessageStatus`, `ErrorCode`) and the
//! generic one (field names and the statuses meaning delivered or failed from
//! `[notify.sms]`).
//!
//! A receipt is about the handset, not the gateway: the outbox's `delivered` means the
//! gateway TOOK the message; the report says whether the phone GOT it. A failed report is
//! recorded and counted, never resent: the gateway accepted the message once, and a
//! resend could reach the phone twice once the operator's own retries succeed.
//!
//! Pure: takes the callback's fields through a lookup; must not do I/O or depend on
//! tokio, reqwest, lettre or axum.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::notify::config::{SmsConfig, SmsProfile};
use crate::notify::subscriber::{redact_email, redact_phone};

/// What a report says about the handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlrState {
    /// The handset got it (a final state).
    Delivered,
    /// It never will: rejected, failed, expired (a final state).
    Undelivered,
    /// On its way: queued, sent to the operator, buffered by the operator.
    InTransit,
}

impl DlrState {
    pub const ALL: [DlrState; 3] = [
        DlrState::Delivered,
        DlrState::Undelivered,
        DlrState::InTransit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DlrState::Delivered => "delivered",
            DlrState::Undelivered => "undelivered",
            DlrState::InTransit => "in_transit",
        }
    }

    pub fn parse(s: &str) -> Option<DlrState> {
        DlrState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Delivered and undelivered are final: a later in-transit report (gateways do not
    /// always post in order) does not undo them.
    pub fn is_final(self) -> bool {
        !matches!(self, DlrState::InTransit)
    }
}

/// One delivery report, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The gateway's message id (as its send answer gave it).
    pub gateway_id: String,
    /// The status as the gateway wrote it ("Success", "undelivered", "DELIVRD").
    pub status: String,
    pub state: DlrState,
    /// The gateway's reason for a failure ("InsufficientCredit", "ErrorCode 30003").
    pub reason: Option<String>,
}

/// Where a profile keeps the id, status and reason, and what its statuses mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlrSpec {
    pub id_field: String,
    pub status_field: String,
    pub reason_field: String,
    /// Prefix of the reason in what is recorded ("ErrorCode " for Twilio's bare number).
    pub reason_label: &'static str,
    pub delivered: Vec<String>,
    pub failed: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl DlrSpec {
    /// The reading of the configured profile.
    pub fn from_config(cfg: &SmsConfig) -> DlrSpec {
        match cfg.profile {
            // Africa's Talking delivery reports (docs.africastalking.com/sms/deliveryreports):
            // form POST of id, status, phoneNumber, networkCode, failureReason (only when
            // Rejected or Failed). Final: Success, Rejected, Failed; Sent, Submitted and
            // Buffered are on the way. AbsentSubscriber and Expired appear in later
            // versions of the same page as failures.
            SmsProfile::AfricasTalking => DlrSpec {
                id_field: "id".into(),
                status_field: "status".into(),
                reason_field: "failureReason".into(),
                reason_label: "",
                delivered: strings(&["Success"]),
                failed: strings(&["Rejected", "Failed", "AbsentSubscriber", "Expired"]),
            },
            // Twilio status callbacks (twilio.com/docs/messaging/guides/
            // outbound-message-status-in-status-callbacks): form POST with MessageSid,
            // MessageStatus, ErrorCode (a number, on failure). Final: delivered (and read,
            // for channels that report it), undelivered, failed, canceled.
            SmsProfile::Twilio => DlrSpec {
                id_field: "MessageSid".into(),
                status_field: "MessageStatus".into(),
                reason_field: "ErrorCode".into(),
                reason_label: "ErrorCode ",
                delivered: strings(&["delivered", "read"]),
                failed: strings(&["undelivered", "failed", "canceled"]),
            },
            SmsProfile::Generic => DlrSpec {
                id_field: cfg.dlr_id_field.clone(),
                status_field: cfg.dlr_status_field.clone(),
                reason_field: cfg.dlr_reason_field.clone(),
                reason_label: "",
                delivered: cfg.dlr_delivered_statuses.clone(),
                failed: cfg.dlr_failed_statuses.clone(),
            },
        }
    }

    /// The state a status means (case-insensitive); anything not final is in transit.
    pub fn state_of(&self, status: &str) -> DlrState {
        let is = |list: &[String]| list.iter().any(|s| s.trim().eq_ignore_ascii_case(status));
        if is(&self.delivered) {
            DlrState::Delivered
        } else if is(&self.failed) {
            DlrState::Undelivered
        } else {
            DlrState::InTransit
        }
    }

    /// Reads a report from the callback's fields (`field(name)` gives a field's value).
    pub fn read(&self, field: &dyn Fn(&str) -> Option<String>) -> Result<DeliveryReport, DlrError> {
        let required = |name: &str, what: &'static str| -> Result<String, DlrError> {
            match field(name).map(|v| v.trim().to_string()) {
                None => Err(DlrError::Missing {
                    field: name.to_string(),
                    what,
                }),
                Some(v) if v.is_empty() => Err(DlrError::Empty {
                    field: name.to_string(),
                    what,
                }),
                Some(v) if v.len() > MAX_FIELD_CHARS => Err(DlrError::TooLong {
                    field: name.to_string(),
                    chars: v.chars().count(),
                }),
                Some(v) => Ok(v),
            }
        };
        let gateway_id = required(&self.id_field, "the gateway's message id")?;
        let status = required(&self.status_field, "the delivery status")?;
        let state = self.state_of(&status);
        let status = mask_contacts(&status);
        // Twilio sends ErrorCode on success too, empty or "0"; a reason only counts when
        // it says something.
        let reason = field(&self.reason_field)
            .map(|r| r.trim().chars().take(MAX_FIELD_CHARS).collect::<String>())
            .filter(|r| !r.is_empty() && r != "0")
            .map(|r| format!("{}{}", self.reason_label, mask_contacts(&r)));
        Ok(DeliveryReport {
            gateway_id,
            status,
            state,
            reason,
        })
    }
}

/// `text` with every phone number and e-mail address masked, whoever's: a gateway's
/// reason may quote the number however it likes (`+258 84 555 0101`, `258845550101`,
/// `84 555 0101`, `0845550101`) or an address. A number is a run of 7 or more digits,
/// possibly after a `+` and split by spaces, `-`, `.`, `(` or `)` (at most two in a row);
/// no error code is that long, and a longer run that is not a number (a date written
/// 2023-03-08) only loses detail. `+…` numbers are masked as in the log
/// ([`redact_phone`]: `+25884*****01`), others keep their first and last two digits
/// (`08******01`); addresses keep their first letter and domain ([`redact_email`]).
///
/// By hand: no crate finds numbers written in national forms without knowing the
/// country (libphonenumber's matcher would need the region, and pulls in its metadata).
pub fn mask_contacts(text: &str) -> String {
    mask_numbers(&mask_emails(text))
}

fn mask_emails(text: &str) -> String {
    let local_char = |c: char| c.is_ascii_alphanumeric() || "._%+-'".contains(c);
    let domain_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // chars[..copied] are in `out`
    let mut k = 0;
    while k < chars.len() {
        if chars.get(k) != Some(&'@') {
            k += 1;
            continue;
        }
        let mut a = k;
        while a > copied && chars.get(a - 1).is_some_and(|c| local_char(*c)) {
            a -= 1;
        }
        let mut b = k + 1;
        while chars.get(b).is_some_and(|c| domain_char(*c)) {
            b += 1;
        }
        // A full stop or hyphen after the address ends the sentence, not the domain.
        while b > k + 1 && chars.get(b - 1).is_some_and(|c| matches!(c, '.' | '-')) {
            b -= 1;
        }
        let local: String = chars.get(a..k).unwrap_or_default().iter().collect();
        let domain: String = chars.get(k + 1..b).unwrap_or_default().iter().collect();
        if local.is_empty() || !domain.contains('.') {
            k += 1;
            continue;
        }
        out.extend(chars.get(copied..a).unwrap_or_default());
        out.push_str(&redact_email(&format!("{local}@{domain}")));
        copied = b;
        k = b;
    }
    out.extend(chars.get(copied..).unwrap_or_default());
    out
}

fn mask_numbers(text: &str) -> String {
    let is_sep = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}');
    let digit_at = |chars: &[char], i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut k = 0;
    while let Some(&c) = chars.get(k) {
        let plus = c == '+' && digit_at(&chars, k + 1);
        if !(plus || c.is_ascii_digit()) {
            out.push(c);
            k += 1;
            continue;
        }
        let start = k;
        let mut end = if plus { k + 1 } else { k };
        let mut digits = String::new();
        loop {
            if digit_at(&chars, end) {
                digits.extend(chars.get(end));
                end += 1;
                continue;
            }
            // One or two separators, then a digit: still the same number.
            let seps = (end..end + 2)
                .take_while(|&i| chars.get(i).is_some_and(|c| is_sep(*c)))
                .count();
            if seps > 0 && digit_at(&chars, end + seps) {
                end += seps;
            } else {
                break;
            }
        }
        if digits.len() >= 7 {
            out.push_str(&if plus {
                redact_phone(&format!("+{digits}"))
            } else {
                let n = digits.len();
                let head: String = digits.chars().take(2).collect();
                let tail: String = digits.chars().skip(n - 2).collect();
                format!("{head}{}{tail}", "*".repeat(n - 4))
            });
        } else {
            out.extend(chars.get(start..end).unwrap_or_default());
        }
        k = end;
    }
    out
}

/// Longest id, status or reason kept (gateways' ids are tens of characters; anything
/// longer is not a delivery report).
pub const MAX_FIELD_CHARS: usize = 200;

/// A callback that is not a delivery report of this profile.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DlrError {
    #[error("field `{field}`: expected {what}, found no such field")]
    Missing { field: String, what: &'static str },
    #[error("field `{field}`: expected {what}, found an empty value")]
    Empty { field: String, what: &'static str },
    #[error("field `{field}`: expected at most {MAX_FIELD_CHARS} characters, found {chars}")]
    TooLong { field: String, chars: usize },
}

impl DlrError {
    /// The field at fault, for the API's error body.
    pub fn field(&self) -> &str {
        match self {
            DlrError::Missing { field, .. }
            | DlrError::Empty { field, .. }
            | DlrError::TooLong { field, .. } => field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(spec: &DlrSpec, pairs: &[(&str, &str)]) -> Result<DeliveryReport, DlrError> {
        let f = fields(pairs);
        spec.read(&|k| f.get(k).cloned())
    }

    fn profile(p: SmsProfile) -> DlrSpec {
        DlrSpec::from_config(&SmsConfig {
            profile: p,
            ..SmsConfig::default()
        })
    }

    #[test]
    fn africas_talking_success_is_delivered_and_failed_carries_its_reason() {
        let at = profile(SmsProfile::AfricasTalking);
        let r = read(
            &at,
            &[
                ("id", "ATXid_1"),
                ("status", "Success"),
                ("phoneNumber", "+258845550101"),
            ],
        )
        .unwrap();
        assert_eq!((r.state, r.reason), (DlrState::Delivered, None));
        let r = read(
            &at,
            &[
                ("id", "ATXid_2"),
                ("status", "Failed"),
                ("failureReason", "UserIsInactive"),
            ],
        )
        .unwrap();
        assert_eq!(r.state, DlrState::Undelivered);
        assert_eq!(r.reason.as_deref(), Some("UserIsInactive"));
        for s in ["Sent", "Submitted", "Buffered"] {
            assert_eq!(at.state_of(s), DlrState::InTransit, "{s}");
        }
        assert_eq!(at.state_of("Rejected"), DlrState::Undelivered);
    }

    #[test]
    fn twilio_error_codes_are_labelled_and_a_zero_code_is_no_reason() {
        let tw = profile(SmsProfile::Twilio);
        let r = read(
            &tw,
            &[
                ("MessageSid", "SM1"),
                ("MessageStatus", "undelivered"),
                ("ErrorCode", "30003"),
            ],
        )
        .unwrap();
        assert_eq!(r.state, DlrState::Undelivered);
        assert_eq!(r.reason.as_deref(), Some("ErrorCode 30003"));
        let r = read(
            &tw,
            &[
                ("MessageSid", "SM1"),
                ("MessageStatus", "delivered"),
                ("ErrorCode", "0"),
            ],
        )
        .unwrap();
        assert_eq!((r.state, r.reason), (DlrState::Delivered, None));
        assert_eq!(tw.state_of("sent"), DlrState::InTransit);
    }

    #[test]
    fn a_missing_or_empty_field_is_named() {
        let g = profile(SmsProfile::Generic);
        let e = read(&g, &[("status", "delivered")]).unwrap_err();
        assert_eq!(e.field(), "id");
        assert!(e.to_string().contains("message id"), "{e}");
        let e = read(&g, &[("id", "x"), ("status", "  ")]).unwrap_err();
        assert_eq!(
            e,
            DlrError::Empty {
                field: "status".into(),
                what: "the delivery status"
            }
        );
        let long = "9".repeat(MAX_FIELD_CHARS + 1);
        let e = read(&g, &[("id", &long), ("status", "delivered")]).unwrap_err();
        assert!(matches!(e, DlrError::TooLong { .. }), "{e}");
    }

    #[test]
    fn numbers_and_addresses_in_a_reason_are_masked_however_written() {
        let r = mask_contacts(
            "absent: 84 555 0101 / 0845550101 / +258 84 555 0101 / (+258) 845-550-101 / \
             258845550101; ask Ana.Silva@ingd.example.org. ErrorCode 30003 at 12:05",
        );
        for clear in ["555 0101", "5550101", "555-0", "Ana.Silva", "ana.silva"] {
            assert!(!r.contains(clear), "{clear} in {r}");
        }
        assert_eq!(
            r,
            "absent: 84*****01 / 08******01 / +25884*****01 / (+25884*****01 / \
             25********01; ask A***@ingd.example.org. ErrorCode 30003 at 12:05"
        );
        assert_eq!(mask_contacts("UserIsInactive"), "UserIsInactive");
    }

    #[test]
    fn a_report_read_keeps_no_number_in_its_status_or_reason() {
        let spec = profile(SmsProfile::Generic);
        let r = read(
            &spec,
            &[
                ("id", "m1"),
                ("status", "undelivered"),
                ("reason", "handset 0845550101 off"),
            ],
        )
        .unwrap();
        assert_eq!(r.reason.as_deref(), Some("handset 08******01 off"));
        assert_eq!(r.state, DlrState::Undelivered);
    }

    #[test]
    fn final_states_are_the_delivered_and_undelivered_ones() {
        assert!(DlrState::Delivered.is_final() && DlrState::Undelivered.is_final());
        assert!(!DlrState::InTransit.is_final());
        for s in DlrState::ALL {
            assert_eq!(DlrState::parse(s.as_str()), Some(s));
        }
    }
}
