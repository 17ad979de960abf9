//! Configuration: TOML parsed strictly (unknown keys are errors), then validated once into
//! the typed form the core uses. The embedded default is config/default.toml.
//!
//! Reads a file only in [`Config::from_file`]; everything else is pure.
//!
//! Over 600 lines because it still gathers every room's section (service, feeds, HTTP,
//! server, map, probabilistic) and their checks in one place; the assessment already takes
//! its own small config (issue 16 move 1), and the sections move beside their rooms next.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::assess::AssessConfig;
use crate::alerts::assess_flood::FloodAssessConfig;
use crate::alerts::levels::FloodAlertLevels;
use crate::alerts::levels::LevelRules;
use crate::alerts::trigger::TriggerConfig;
use crate::exposure::ExposureConfig;
use crate::feeds::fetch::HttpConfig;
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
    /// The web map (`[map]`).
    #[serde(default)]
    pub map: MapSettings,
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

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
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
        self.http.validate().map_err(&inv)?;
        self.http_server.validate().map_err(&inv)?;
        self.map.validate().map_err(&inv)?;
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
    /// Prefix of every absolute link ("https://aviso.example.org"); "" = http://LISTEN,
    /// or each request's Host header when listening on every interface.
    pub public_url: String,
    /// Directory of the store (`aviso.sqlite`), relative to the working directory.
    pub data_dir: String,
    /// The layers directory (holding manifest.toml) or the manifest file itself.
    pub layers: String,
    /// CAP `sender`: who issues the alerts (no spaces or commas; CAP 1.2 §3.2.1).
    pub sender: String,
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
            status: crate::alerts::versioning::CapStatus::Actual,
            cap_expires_after_h: 12.0,
            expire_event_after_h: 24.0,
            max_forecast_age_h: 24.0,
            stale_after_intervals: 2.0,
        }
    }
}

impl ServiceConfig {
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

/// `[map]`: the web map's optional basemap. Without a tile URL the map needs no internet:
/// the country, provinces and districts are the basemap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapSettings {
    /// Leaflet tile URL template with {z}, {x}, {y} ("" = no tiles).
    pub tile_url: String,
    /// Attribution the tile licence requires, shown on the map.
    pub tile_attribution: String,
    /// Highest zoom the tile server has.
    pub tile_max_zoom: u8,
}

impl Default for MapSettings {
    fn default() -> Self {
        MapSettings {
            tile_url: String::new(),
            tile_attribution: String::new(),
            tile_max_zoom: 19,
        }
    }
}

impl MapSettings {
    fn validate(&self) -> Result<(), String> {
        if self.tile_url.is_empty() {
            return Ok(());
        }
        let http = self.tile_url.starts_with("https://") || self.tile_url.starts_with("http://");
        let xyz = ["{z}", "{x}", "{y}"]
            .iter()
            .all(|p| self.tile_url.contains(p));
        if !http || !xyz {
            return Err(format!(
                "map.tile_url = {:?}: expected \"\" or an http(s) URL with {{z}}, {{x}} and {{y}}",
                self.tile_url
            ));
        }
        if self.tile_attribution.trim().is_empty() {
            return Err("map.tile_attribution: a tile URL needs its attribution".into());
        }
        if !(1..=24).contains(&self.tile_max_zoom) {
            return Err(format!(
                "map.tile_max_zoom = {}: expected 1 to 24",
                self.tile_max_zoom
            ));
        }
        Ok(())
    }
}

/// What a feed delivers; decides the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// Météo-France RSMC La Réunion CMRSTRACK JSON (one storm per document).
    RsmcReunion,
    /// JTWC/ATCF a-deck text (one storm per deck); `tech` picks the aid.
    Atcf,
    /// ECMWF tropical-cyclone track BUFR (deterministic and/or 51-member ensemble, one storm
    /// per file), decoded through ecCodes. The service publishes the headline member (the
    /// high-resolution run, else the control) through the cyclone path and records the
    /// member count with the assessment.
    EcmwfBufr,
    /// GDACS GeoRSS: discovers active South-West Indian Ocean storms for the feeds whose
    /// URL is a template (`{name}`, `{year}`, `{gdacs_event_id}`).
    Gdacs,
    /// IBTrACS best tracks: not a forecast; refused for the service with a pointer to
    /// `aviso replay` and the demo.
    Ibtracs,
    /// River-station ensemble flood forecast (GloFAS-based CSVs): `url` is the exceedance
    /// probabilities, `stations_url` the stations/thresholds, `discharge_url` (optional)
    /// the member discharges. Processed by `crate::pipeline::flood`.
    FloodStations,
    /// A flood map (satellite or model flood-extent polygons): GeoJSON, GeoPackage or a
    /// zipped Shapefile at `url`, levelled by `[flood.extent]`. Each new map is the next
    /// version of the feed's flood event. Processed by `crate::pipeline::flood`.
    FloodExtent,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::RsmcReunion => "rsmc-reunion",
            FeedKind::Atcf => "atcf",
            FeedKind::EcmwfBufr => "ecmwf-bufr",
            FeedKind::Gdacs => "gdacs",
            FeedKind::Ibtracs => "ibtracs",
            FeedKind::FloodStations => "flood-stations",
            FeedKind::FloodExtent => "flood-extent",
        }
    }
}

/// One `[[feed]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Short unique name (letters, digits, '-', '_'): names the feed in the store,
    /// /readyz and metrics.
    pub name: String,
    pub kind: FeedKind,
    /// http(s) URL; for storm feeds it may be a template filled per storm GDACS lists.
    pub url: String,
    /// When to pull: the `cron` crate's syntax, seconds first ("0 5 */6 * * *" = 5 past
    /// every sixth hour, UTC).
    pub schedule: String,
    /// CAP status of this feed's alerts (overrides `service.status`).
    #[serde(default)]
    pub status: Option<crate::alerts::versioning::CapStatus>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// ATCF aid to read (JTWC, OFCL, ...); default JTWC, then OFCL, then BEST.
    #[serde(default)]
    pub tech: Option<String>,
    /// flood-stations feeds: the stations/thresholds CSV (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations_url: Option<String>,
    /// flood-stations feeds: the member discharges CSV (optional: without it the counts of
    /// the probabilities file are used unchecked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_url: Option<String>,
}

fn yes() -> bool {
    true
}

/// Placeholders a storm feed's URL may hold, filled from GDACS's active storms.
pub const URL_PLACEHOLDERS: [&str; 4] = ["{name}", "{name_lower}", "{year}", "{gdacs_event_id}"];

impl FeedConfig {
    /// True when the URL is filled per storm discovered through GDACS.
    pub fn is_template(&self) -> bool {
        URL_PLACEHOLDERS.iter().any(|p| self.url.contains(p))
    }

    pub fn schedule(&self) -> Result<cron::Schedule, String> {
        use std::str::FromStr;
        cron::Schedule::from_str(&self.schedule).map_err(|e| {
            format!(
                "feed {:?}: schedule {:?} is not a cron expression ({e}); expected 6 or 7 fields, \
                 seconds first, e.g. \"0 5 */6 * * *\" for 5 past every sixth hour (UTC)",
                self.name, self.schedule
            )
        })
    }
}

/// A flood-stations feed needs its stations file and no storm template; other kinds take
/// no flood URLs.
fn validate_flood_urls(f: &FeedConfig, http: &HttpConfig) -> Result<(), String> {
    let urls = [
        ("stations_url", &f.stations_url),
        ("discharge_url", &f.discharge_url),
    ];
    if f.kind != FeedKind::FloodStations {
        return match urls.iter().find(|(_, u)| u.is_some()) {
            Some((key, _)) => Err(format!(
                "feed {:?}: {key} is only for kind \"flood-stations\"",
                f.name
            )),
            None => Ok(()),
        };
    }
    if f.stations_url.is_none() {
        return Err(format!(
            "feed {:?}: kind \"flood-stations\" needs stations_url (the stations and their thresholds)",
            f.name
        ));
    }
    for (key, u) in urls {
        if let Some(u) = u
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "feed {:?}: {key} {:?} must start with http:// or https://",
                f.name,
                http.redact(u)
            ));
        }
    }
    if f.is_template() {
        return Err(format!(
            "feed {:?}: a flood-stations url cannot be a storm template",
            f.name
        ));
    }
    Ok(())
}

/// A flood map feed reads one file; its URL is not a storm template.
fn validate_flood_extent(f: &FeedConfig) -> Result<(), String> {
    if f.kind == FeedKind::FloodExtent && f.is_template() {
        return Err(format!(
            "feed {:?}: a flood-extent url cannot be a storm template",
            f.name
        ));
    }
    Ok(())
}

/// Feed URLs in messages are shown through `http.redact` (secret query values hidden).
fn validate_feeds(feeds: &[FeedConfig], http: &HttpConfig) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for f in feeds {
        if f.name.is_empty()
            || f.name.len() > 64
            || !f
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "feed name {:?}: expected 1 to 64 letters, digits, '-' or '_'",
                f.name
            ));
        }
        if !names.insert(f.name.as_str()) {
            return Err(format!("feed name {:?} is used twice", f.name));
        }
        if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
            return Err(format!(
                "feed {:?}: url {:?} must start with http:// or https://",
                f.name,
                http.redact(&f.url)
            ));
        }
        f.schedule()?;
        validate_flood_urls(f, http)?;
        validate_flood_extent(f)?;
        if f.kind == FeedKind::Ibtracs {
            return Err(format!(
                "feed {:?}: kind \"ibtracs\" holds best tracks (what happened), not forecasts; \
                 replay them with `aviso replay` or `aviso serve --demo`",
                f.name
            ));
        }
        if f.is_template() {
            if f.kind == FeedKind::Gdacs {
                return Err(format!(
                    "feed {:?}: a gdacs feed's url cannot be a storm template",
                    f.name
                ));
            }
            if f.enabled && !feeds.iter().any(|g| g.kind == FeedKind::Gdacs && g.enabled) {
                return Err(format!(
                    "feed {:?}: url {:?} is a per-storm template, but no enabled gdacs feed \
                     discovers the storms to fill it",
                    f.name,
                    http.redact(&f.url)
                ));
            }
        }
        if let Some(s) = f.status
            && !matches!(
                s,
                crate::alerts::versioning::CapStatus::Actual
                    | crate::alerts::versioning::CapStatus::Exercise
                    | crate::alerts::versioning::CapStatus::Test
            )
        {
            return Err(format!(
                "feed {:?}: status {:?}: expected Actual, Exercise or Test",
                f.name,
                s.as_str()
            ));
        }
    }
    Ok(())
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
        assert_eq!(c.map, MapSettings::default());
        assert!(c.feeds.is_empty(), "the embedded default pulls no feed");
        assert_eq!(c.notify, crate::notify::config::NotifyConfig::default());
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
