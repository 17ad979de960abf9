//! Subscribers and delivery: who gets which alert (`subscriber`, `select`), in which words
//! (`message`, `gsm`), as which messages (`outbound`, `plan`), with which settings
//! (`config`), what a gateway's delivery report says (`dlr`), which hosts a webhook may
//! reach (`target`); at the edge, the channels that send them (`channels`: e-mail, SMS
//! gateways, webhooks) and the outbox worker (`dispatch`).
//!
//! The core files (all but `channels` and `dispatch`) are pure: no I/O, no tokio, reqwest
//! or lettre (a test reads their `use` lines to keep it so).

pub mod channels;
pub mod config;
pub mod dispatch;
pub mod dlr;
pub mod gsm;
pub mod message;
pub mod outbound;
pub mod outbox;
pub mod plan;
pub mod reminder;
pub mod select;
pub mod subscriber;
pub mod target;

pub use outbound::{Outbound, OutboundBody, Planned, compose, idempotency_key};
pub use select::{LastSent, Notice, NoticeKind, PublishedAlert, SelectOptions, select};
pub use subscriber::{Area, Channel, ChannelKind, HazardKind, Lang, Subscriber};

#[cfg(test)]
mod tests {
    /// The core stays pure: none of its files names an I/O crate.
    #[test]
    fn the_core_files_import_no_io_crates() {
        let files = [
            ("config.rs", include_str!("config.rs")),
            ("dlr.rs", include_str!("dlr.rs")),
            ("gsm.rs", include_str!("gsm.rs")),
            ("message.rs", include_str!("message.rs")),
            ("outbound.rs", include_str!("outbound.rs")),
            ("plan.rs", include_str!("plan.rs")),
            ("reminder.rs", include_str!("reminder.rs")),
            ("select.rs", include_str!("select.rs")),
            ("subscriber/mod.rs", include_str!("subscriber/mod.rs")),
            ("subscriber/csv.rs", include_str!("subscriber/csv.rs")),
            (
                "subscriber/validate.rs",
                include_str!("subscriber/validate.rs"),
            ),
            ("target.rs", include_str!("target.rs")),
        ];
        for (name, text) in files {
            for line in text.lines().map(str::trim) {
                for krate in ["tokio", "reqwest", "lettre", "axum", "std::fs", "std::net"] {
                    assert!(
                        !(line.starts_with("use ") && line.contains(krate)),
                        "{name} imports {krate}: {line}"
                    );
                }
            }
        }
    }
}
