//! `[[feed]]`: the feeds the service pulls (name, kind, URL or storm template, cron
//! schedule, CAP status, the flood-stations companion files) and their checks. Validated
//! with the whole configuration by `crate::config::Config::from_toml`, which names the
//! file in every error.

use serde::{Deserialize, Serialize};

use super::fetch::HttpConfig;
use crate::alerts::versioning::CapStatus;

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
    pub status: Option<CapStatus>,
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
pub(crate) fn validate_feeds(feeds: &[FeedConfig], http: &HttpConfig) -> Result<(), String> {
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
            && !matches!(s, CapStatus::Actual | CapStatus::Exercise | CapStatus::Test)
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
