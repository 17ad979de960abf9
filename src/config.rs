//! Configuration: TOML parsed strictly (unknown keys are errors), then validated once into
//! the typed form the core uses. The embedded default is config/default.toml.
//!
//! Reads a file only in [`Config::from_file`]; everything else is pure.
//!
//! Each section's type and checks live in its room (`[hazard]` in hazard/, `[[feed]]` in
//! feeds/config.rs, `[map]` in api/web/settings.rs, `[notify]` in notify/config.rs, ...); this file
//! gathers them into [`Config`], validates the whole once, and keeps the sections no room
//! below it owns: `[service]` and `[log]` are read by the pipeline and the wiring, which
//! sit above the configuration, and `[output]` by several rooms.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::assess::AssessConfig;
use crate::alerts::assess_flood::FloodAssessConfig;
use crate::alerts::levels::FloodAlertLevels;
use crate::alerts::levels::LevelRules;
use crate::alerts::trigger::TriggerConfig;
use crate::exposure::ExposureConfig;
use crate::feeds::config::validate_feeds;
pub use crate::feeds::config::{FeedConfig, FeedKind, URL_PLACEHOLDERS};
use crate::hazard::HazardConfig;
use crate::hazard::ensemble::ProbabilisticConfig;
use crate::hazard::flood::FloodConfig;

/// The configuration compiled into the binary (config/default.toml).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {origin} is not valid: {message}")]
    Parse { origin: String, message: String },
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Output settings (`[output]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Decimal places of output coordinates (5 ≈ 1.1 m at the equator).
    pub coordinate_decimals: u32,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            coordinate_decimals: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hazard: HazardConfig,
    #[serde(default)]
    pub exposure: ExposureConfig,
    /// Probabilistic wind from perturbed realisations (`[probabilistic]`, issue 12).
    #[serde(default)]
    pub probabilistic: ProbabilisticConfig,
    #[serde(default)]
    pub levels: LevelRules,
    #[serde(default)]
    pub trigger: TriggerConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub flood: FloodConfig,
    #[serde(default)]
    pub flood_levels: FloodAlertLevels,
    /// Accommodation-centre planning (`[plan]`, issue 14): footprint, distances,
    /// capacity rules and displacement fractions.
    #[serde(default)]
    pub plan: crate::plan::PlanConfig,
    /// The scheduled service (`aviso serve`, `aviso run-once`).
    #[serde(default)]
    pub service: ServiceConfig,
    /// Who decides that a version goes out (`[approval]`, issue 13): auto-publish rules and
    /// four eyes; everything else waits for a person.
    #[serde(default)]
    pub approval: crate::alerts::approval::ApprovalConfig,
    /// Which database keeps the service's state (`[store]`): the embedded SQLite file
    /// unless `url` names a PostgreSQL server.
    #[serde(default)]
    pub store: crate::store::config::StoreConfig,
    /// The web map (`[map]`).
    #[serde(default)]
    pub map: crate::api::web::MapSettings,
    /// HTTP client of every feed (`[http]`): timeouts, retries, size cap, User-Agent.
    #[serde(default)]
    pub http: crate::feeds::fetch::HttpConfig,
    /// The service's HTTP server (`[http_server]`): timeouts, connection and upload limits.
    #[serde(default)]
    pub http_server: crate::api::server::HttpServerConfig,
    /// The feeds the service pulls, `[[feed]]` tables.
    #[serde(default, rename = "feed")]
    pub feeds: Vec<FeedConfig>,
    /// Subscribers' messages (`[notify]`): selection, texts, channels, outbox, admin
    /// tokens, SMS replies.
    #[serde(default)]
    pub notify: crate::notify::config::NotifyConfig,
    /// The service's log (`[log]`): its format; the level comes from `AVISO_LOG`.
    #[serde(default)]
    pub log: LogConfig,
}

impl Config {
    /// The four sections one cyclone assessment reads (issue 16 move 1: the core takes
    /// these, never the whole application config).
    pub fn assessment(&self) -> AssessConfig<'_> {
        AssessConfig {
            hazard: &self.hazard,
            exposure: &self.exposure,
            levels: &self.levels,
            trigger: &self.trigger,
        }
    }

    /// The two sections one flood assessment reads.
    pub fn flood_assessment(&self) -> FloodAssessConfig<'_> {
        FloodAssessConfig {
            flood: &self.flood,
            levels: &self.flood_levels,
        }
    }

    /// Parses and validates TOML; `origin` names it in errors (a path or "embedded default").
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate(origin)?;
        // The hazard must compute every threshold the level rules and the trigger test.
        let mut needed = cfg.levels.wind_thresholds();
        needed.push(cfg.trigger.threshold_kt);
        for t in needed {
            if !cfg.hazard.thresholds_kt.iter().any(|h| (h - t).abs() < 0.5) {
                cfg.hazard.thresholds_kt.push(t);
            }
        }
        cfg.hazard.thresholds_kt.sort_by(f64::total_cmp);
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn embedded_default() -> Result<Config, ConfigError> {
        Self::from_toml(DEFAULT_TOML, "embedded config/default.toml")
    }

    fn validate(&mut self, origin: &str) -> Result<(), ConfigError> {
        let inv = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        self.hazard.validate().map_err(|e| inv(e.to_string()))?;
        self.probabilistic
            .validate()
            .map_err(|e| inv(e.to_string()))?;
        self.levels.validate().map_err(|e| inv(e.to_string()))?;
        self.levels
            .check_counted(
                &self.probabilistic.thresholds_kt,
                &self.probabilistic.windows_h,
            )
            .map_err(|e| inv(e.to_string()))?;
        self.trigger.validate().map_err(|e| inv(e.to_string()))?;
        self.flood.validate().map_err(|e| inv(e.to_string()))?;
        self.flood_levels
            .validate()
            .map_err(|e| inv(e.to_string()))?;
        self.plan.validate().map_err(&inv)?;
        self.service.validate().map_err(&inv)?;
        self.approval.validate().map_err(&inv)?;
        crate::notify::reminder::normalise_on_call(&mut self.approval.on_call).map_err(&inv)?;
        self.on_call_reachable().map_err(&inv)?;
        self.http.validate().map_err(&inv)?;
        self.http_server.validate().map_err(&inv)?;
        self.map.validate().map_err(&inv)?;
        self.store.validate().map_err(&inv)?;
        validate_feeds(&self.feeds, &self.http).map_err(&inv)?;
        self.notify.validate().map_err(|e| inv(e.to_string()))?;
        if self.output.coordinate_decimals > 9 {
            return Err(inv(format!(
                "output.coordinate_decimals = {}: at most 9",
                self.output.coordinate_decimals
            )));
        }
        if self.exposure.max_shelter_distance_km.is_nan()
            || self.exposure.max_shelter_distance_km <= 0.0
        {
            return Err(inv(
                "exposure.max_shelter_distance_km must be a positive number of km".to_string(),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// The on-call approvers' addresses go through `[notify]`'s channels: each one used
    /// must be enabled, or the reminder would sit in the outbox unsent.
    fn on_call_reachable(&self) -> Result<(), String> {
        for (i, p) in self.approval.on_call.iter().enumerate() {
            if p.email.is_some() && !self.notify.email.enabled {
                return Err(format!(
                    "approval.on_call[{i}].email ({}): [notify.email] is not enabled, so no reminder could reach it",
                    p.name
                ));
            }
            if p.phone.is_some() && !self.notify.sms.enabled {
                return Err(format!(
                    "approval.on_call[{i}].phone ({}): [notify.sms] is not enabled, so no reminder could reach it",
                    p.name
                ));
            }
        }
        Ok(())
    }
}

/// `[log]`: how the service writes its log on stderr. The level is not here: it comes from
/// the environment (`AVISO_LOG`, else `RUST_LOG`, an env-filter such as `info` or
/// `aviso=debug`), so an operator can raise it for one run without editing the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (one line per event) or `json` (one object per line, for log shippers);
    /// `AVISO_LOG_FORMAT` overrides it.
    pub format: LogFormat,
}

/// The log's format (`[log] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event: time, level, target, message, fields.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

/// `[service]`: where the service listens, keeps its store and finds its layers, and how
/// it signs its alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Address the HTTP API listens on (IP:PORT).
    pub listen: String,
    /// Prefix of every absolute link (`"https://aviso.example.org"`); "" = http://LISTEN,
    /// or each request's Host header when listening on every interface.
    pub public_url: String,
    /// Directory of the store (`aviso.sqlite`), relative to the working directory.
    pub data_dir: String,
    /// The layers directory (holding manifest.toml) or the manifest file itself.
    pub layers: String,
    /// CAP `sender`: who issues the alerts (no spaces or commas; CAP 1.2 §3.2.1).
    pub sender: String,
    /// CAP `senderName`: the alerting authority as people should read it (issue 13: the
    /// agency speaks, not the tool).
    pub sender_name: String,
    /// CAP `status` of every alert unless a feed says otherwise: "Actual", "Exercise" or
    /// "Test". Exercise and Test alerts never reach the public feed.
    pub status: crate::alerts::versioning::CapStatus,
    /// CAP `expires` = reference time + this many hours (one missed 6-hourly issuance is
    /// tolerated, two are not).
    pub cap_expires_after_h: f64,
    /// An event with no new version for this many hours is cancelled (the storm
    /// dissipated or left the feed) — only when its feed has since delivered a forecast
    /// that parsed and was assessed (another storm's, a late one) or, for a per-storm
    /// GDACS-templated feed, a GDACS list without the storm. RSMC La Réunion issues every
    /// 6 h, so 24 h is four missed issuances. A feed that is down, silent or serving
    /// garbage never cancels anything (issue 17).
    pub expire_event_after_h: f64,
    /// An Actual cyclone forecast whose reference time is older than this many hours when
    /// it is processed is refused (stored, marked failed, the feed degraded): a feed
    /// serving a past forecast must never put a live alert out (issue 17). RSMC La Réunion
    /// issues every 6 h, so 24 h is four missed issuances. Exercise and Test forecasts
    /// (the demo's replays, drills) are not held to it. Raise it only to replay history as
    /// Actual in a closed test set-up.
    pub max_forecast_age_h: f64,
    /// A feed whose last good fetch is older than this many of its schedule intervals is
    /// reported stale on /readyz (plus 10 minutes of slack).
    pub stale_after_intervals: f64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            data_dir: "var/aviso".into(),
            layers: "layers".into(),
            sender: "aviso@ingd.gov.mz".into(),
            sender_name: crate::alerts::cap::AUTHORITY_NAME.into(),
            status: crate::alerts::versioning::CapStatus::Actual,
            cap_expires_after_h: 12.0,
            expire_event_after_h: 24.0,
            max_forecast_age_h: 24.0,
            stale_after_intervals: 2.0,
        }
    }
}

impl ServiceConfig {
    /// Why admin bearer tokens would cross plain HTTP off this machine when the API
    /// listens on `listen` (issue 15: they must never): `None` when clients reach it only
    /// on the loopback interface, or through `public_url` in https. A `public_url` in
    /// plain http naming another host counts as exposure even on a loopback listener (a
    /// proxy in front speaks plain HTTP to the world).
    pub fn plain_http_exposure(&self, listen: std::net::SocketAddr) -> Option<String> {
        if self.public_url.starts_with("https://") {
            return None;
        }
        if let Ok(u) = url::Url::parse(&self.public_url) {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Some(format!(
                    "service.public_url = {:?} is plain http to a host that is not this machine",
                    self.public_url
                ));
            }
        }
        (!listen.ip().is_loopback()).then(|| {
            format!(
                "the API listens on {listen} (not loopback) and service.public_url is {}",
                if self.public_url.is_empty() {
                    "not set".to_string()
                } else {
                    format!("{:?}, not https", self.public_url)
                }
            )
        })
    }

    fn validate(&self) -> Result<(), String> {
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            format!(
                "service.listen = {:?}: expected IP:PORT, e.g. 127.0.0.1:8080",
                self.listen
            )
        })?;
        if !(self.public_url.is_empty()
            || self.public_url.starts_with("http://")
            || self.public_url.starts_with("https://"))
        {
            return Err(format!(
                "service.public_url = {:?}: expected \"\" or an http(s) URL",
                self.public_url
            ));
        }
        if self.sender.is_empty()
            || self
                .sender
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&'))
        {
            return Err(format!(
                "service.sender = {:?}: expected no spaces, commas, '<' or '&' (CAP 1.2 sender)",
                self.sender
            ));
        }
        use crate::alerts::versioning::CapStatus;
        if !matches!(
            self.status,
            CapStatus::Actual | CapStatus::Exercise | CapStatus::Test
        ) {
            return Err(format!(
                "service.status = {:?}: expected Actual, Exercise or Test",
                self.status.as_str()
            ));
        }
        for (key, v, lo, hi) in [
            ("cap_expires_after_h", self.cap_expires_after_h, 1.0, 240.0),
            (
                "expire_event_after_h",
                self.expire_event_after_h,
                1.0,
                720.0,
            ),
            (
                "max_forecast_age_h",
                self.max_forecast_age_h,
                1.0,
                1_000_000.0,
            ),
            (
                "stale_after_intervals",
                self.stale_after_intervals,
                1.0,
                100.0,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!("service.{key} = {v}: expected {lo} to {hi}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_validates() {
        let c = Config::embedded_default().unwrap();
        assert!(
            c.hazard
                .thresholds_kt
                .iter()
                .any(|t| (*t - 64.0).abs() < 0.5)
        );
        assert_eq!(c.trigger.provinces.len(), 8);
    }

    #[test]
    fn the_documented_defaults_are_the_code_defaults() {
        // config/default.toml documents every key; it must say what the code does.
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.hazard, crate::hazard::HazardConfig::default());
        assert_eq!(c.probabilistic, ProbabilisticConfig::default());
        assert_eq!(c.exposure, ExposureConfig::default());
        assert_eq!(c.levels, LevelRules::default());
        assert_eq!(c.trigger, TriggerConfig::default());
        assert_eq!(c.output, OutputConfig::default());
        assert_eq!(c.flood, FloodConfig::default());
        assert_eq!(c.flood_levels, FloodAlertLevels::default());
        assert_eq!(c.service, ServiceConfig::default());
        assert_eq!(c.http, crate::feeds::fetch::HttpConfig::default());
        assert_eq!(
            c.http_server,
            crate::api::server::HttpServerConfig::default()
        );
        assert_eq!(c.map, crate::api::web::MapSettings::default());
        assert_eq!(c.store, crate::store::config::StoreConfig::default());
        assert!(c.feeds.is_empty(), "the embedded default pulls no feed");
        assert_eq!(c.notify, crate::notify::config::NotifyConfig::default());
        assert_eq!(
            c.approval,
            crate::alerts::approval::ApprovalConfig::default()
        );
    }

    #[test]
    fn an_on_call_address_needs_its_channel() {
        let text = "[[approval.on_call]]\nname = \"duty-officer\"\nphone = \"+258841234567\"\n";
        let e = Config::from_toml(text, "site.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site.toml") && e.contains("approval.on_call[0].phone"),
            "{e}"
        );
        let e = Config::from_toml("[approval.reminders]\nafter_mins = 5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("after_mins"), "{e}");
    }

    #[test]
    fn a_feed_with_a_bad_schedule_is_an_error_naming_feed_and_expression() {
        let text = "[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = \"https://x.test/a.json\"\nschedule = \"every six hours\"\n";
        let e = Config::from_toml(text, "site.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site.toml") && e.contains("\"rsmc\"") && e.contains("every six hours"),
            "{e}"
        );
        let ok = text.replace("every six hours", "0 5 */6 * * *");
        let c = Config::from_toml(&ok, "site.toml").unwrap();
        assert_eq!(c.feeds[0].kind, FeedKind::RsmcReunion);
    }

    #[test]
    fn the_example_site_config_is_valid() {
        let c = Config::from_toml(
            include_str!("../config/service.example.toml"),
            "config/service.example.toml",
        )
        .unwrap();
        assert_eq!(c.feeds.len(), 5);
        assert_eq!(c.feeds.iter().filter(|f| f.is_template()).count(), 3);
        assert!(c.feeds.iter().any(|f| f.kind == FeedKind::EcmwfBufr));
        assert_eq!(c.service.listen, "0.0.0.0:8080");
    }

    #[test]
    fn a_storm_template_needs_a_gdacs_feed_and_ibtracs_is_refused() {
        let t = "[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = \"https://x.test/{name}.json\"\nschedule = \"0 0 * * * *\"\n";
        let e = Config::from_toml(t, "a.toml").unwrap_err().to_string();
        assert!(e.contains("gdacs"), "{e}");
        let with_gdacs = format!(
            "{t}[[feed]]\nname = \"gdacs\"\nkind = \"gdacs\"\nurl = \"https://x.test/rss.xml\"\nschedule = \"0 0 * * * *\"\n"
        );
        assert!(Config::from_toml(&with_gdacs, "a.toml").unwrap().feeds[0].is_template());
        let ib = t.replace("rsmc-reunion", "ibtracs").replace("{name}", "x");
        let e = Config::from_toml(&ib, "a.toml").unwrap_err().to_string();
        assert!(e.contains("best tracks"), "{e}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key_and_the_file() {
        let text = format!("{DEFAULT_TOML}\n[exposure2]\nx = 1\n");
        let e = Config::from_toml(&text, "site.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("site.toml") && e.contains("exposure2"), "{e}");
        let e = Config::from_toml("[trigger]\nthreshold_kts = 64\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("threshold_kts"), "{e}");
    }
}
