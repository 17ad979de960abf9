//! Freddy (February–March 2023) replayed through the real `aviso serve` binary with 1,000
//! subscribers (issue 5's definition of done): the IBTrACS best track served as RSMC La
//! Réunion CMRSTRACK issuances by a local feed the test advances one issuance at a time,
//! fetched, stored, assessed, versioned and committed with its messages by the service's
//! own feed loop, then delivered by its outbox worker to a real SMTP server (Debian's
//! aiosmtpd), an SMS gateway and webhook receivers (axum servers in this test). The SMS
//! gateway goes down for a while in the middle, and some webhook receivers refuse every
//! message once, so legitimate retries happen.
//!
//! The subscribers are spread over the real COD-AB districts and provinces (seeded, so the
//! run is the same every time) and imported through the admin API as a CSV. Who should get
//! what is worked out here, from the published versions as the public API shows them and
//! from the boundaries file read directly (not from the notify code), and compared with
//! what the gateways received and what the store says was queued.
//!
//! Prints, per issuance, the version published, the messages queued and the time from the
//! version's commit to the last of its messages acknowledged (`-- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;
use crate::notify_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use geo::{Coord, InteriorPoint, Intersects, MultiPolygon, Polygon, Rect};
use serde_json::Value;

use aviso::alerts::levels::Level;
use aviso::notify::channels::webhook::{SIGNATURE_HEADER, verify};
use aviso::notify::subscriber::ChannelKind;
use aviso::pipeline::demo::Replay;
use aviso::store::notify::{AttemptOutcome, OutboxRow, OutboxState, OutboxStore};
use aviso::store::sqlite::SqliteStore;
use notify_support::{TRACK, key_of, read_maildir, start_smtpd};

const DISTRICTS: &str = "boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson";

/// Subscribers in the replay (issue 5: "1,000 subscribers spread over districts").
const SUBSCRIBERS: usize = 1000;
/// Hours between replayed issuances. RSMC La Réunion issues every 6 h; every second one
/// keeps the debug-build test under three minutes on two cores. `AVISO_REPLAY_EVERY_H=6`
/// replays every issuance (for the figures; about twice as long).
const EVERY_H: i64 = 12;
/// Four days before Freddy's first Mozambique landfall (24 February 2023, Inhambane).
const FROM: &str = "2023-02-20T00:00:00Z";
/// The SMS gateway goes down once it has accepted this many messages: mid-replay, and
/// usually mid-batch (the worker sends a batch concurrently).
const OUTAGE_AFTER: u32 = 200;
/// Requests the SMS gateway then refuses (HTTP 503) before it recovers.
const OUTAGE_REQUESTS: u32 = 30;
/// Webhook receivers whose number is a multiple of this refuse (HTTP 502) the first
/// delivery of every message, as a flaky partner system would.
const FLAKY_HOOK_EVERY: usize = 7;

const EDITOR_TOKEN: &str = "replay-editor-token-4c1d";
const HOOK_SECRET: &str = "replay-hook-secret";

// --- seeded randomness ------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea & Flood 2014): a seeded generator, so the subscribers are the
/// same on every run without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// --- the real districts -------------------------------------------------------------------------

struct District {
    pcode: String,
    province: String,
    shape: MultiPolygon<f64>,
}

/// The COD-AB districts, read straight from the shared GeoJSON (not through aviso's layer
/// loader: the oracle should not share the code it checks).
fn districts(path: &Path) -> Vec<District> {
    let fc: geojson::FeatureCollection =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out: Vec<District> = fc
        .features
        .iter()
        .map(|f| {
            let prop = |k: &str| f.property(k).and_then(Value::as_str).unwrap().to_string();
            let g = geo::Geometry::<f64>::try_from(&f.geometry.as_ref().unwrap().value).unwrap();
            let shape = match g {
                geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
                geo::Geometry::MultiPolygon(m) => m,
                other => panic!("district geometry {other:?}"),
            };
            District {
                pcode: prop("ADM2_PCODE"),
                province: prop("ADM1_PCODE"),
                shape,
            }
        })
        .collect();
    out.sort_by(|a, b| a.pcode.cmp(&b.pcode));
    out
}

// --- the subscribers --------------------------------------------------------------------------

#[derive(Clone)]
struct Sub {
    id: String,
    lang: &'static str,
    min_level: Level,
    active: bool,
    /// Follows cyclones (a flood-only subscriber must hear nothing of Freddy).
    cyclones: bool,
    phone: Option<String>,
    email: Option<String>,
    /// Receiver number: the webhook URL is `/hook/{n}`.
    hook: Option<usize>,
    districts: Vec<String>,
    provinces: Vec<String>,
    polygon: Option<Polygon<f64>>,
    /// Every district their areas touch, worked out here.
    covers: BTreeSet<String>,
}

impl Sub {
    fn channels(&self) -> Vec<ChannelKind> {
        let mut c = Vec::new();
        if self.email.is_some() {
            c.push(ChannelKind::Email);
        }
        if self.phone.is_some() {
            c.push(ChannelKind::Sms);
        }
        if self.hook.is_some() {
            c.push(ChannelKind::Webhook);
        }
        c
    }
}

fn level_name(l: Level, pt: bool) -> &'static str {
    if pt { l.name_pt() } else { l.name_en() }
}

/// 1,000 subscribers, seeded: a district (55 %), two districts (15 %), a province (15 %)
/// or a small polygon around a place (15 %); SMS (50 %), e-mail (20 %), webhook (10 %) or
/// SMS and e-mail (20 %); a third in English; minimum levels from green to red; a few
/// inactive, a few following floods only.
fn subscribers(ds: &[District]) -> Vec<Sub> {
    let mut rng = SplitMix(0x5EED_F7ED_D1E5);
    let provinces: Vec<String> = ds
        .iter()
        .map(|d| d.province.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (0..SUBSCRIBERS)
        .map(|i| {
            let mut s = Sub {
                id: format!("sub-{i:04}"),
                lang: if rng.below(3) == 0 { "en" } else { "pt" },
                min_level: match rng.below(100) {
                    0..15 => Level::Green,
                    15..55 => Level::Yellow,
                    55..85 => Level::Orange,
                    _ => Level::Red,
                },
                active: rng.below(50) != 0,
                cyclones: rng.below(33) != 0,
                phone: None,
                email: None,
                hook: None,
                districts: Vec::new(),
                provinces: Vec::new(),
                polygon: None,
                covers: BTreeSet::new(),
            };
            match rng.below(100) {
                0..55 => s.districts.push(ds[rng.below(ds.len())].pcode.clone()),
                55..70 => {
                    for _ in 0..2 {
                        s.districts.push(ds[rng.below(ds.len())].pcode.clone());
                    }
                    s.districts.sort();
                    s.districts.dedup();
                }
                70..85 => s
                    .provinces
                    .push(provinces[rng.below(provinces.len())].clone()),
                _ => {
                    // A square 0.06° to 0.3° a side (about 7 to 33 km) around a point
                    // inside a district: mostly inside it, sometimes across a boundary.
                    let c = ds[rng.below(ds.len())].shape.interior_point().unwrap();
                    let h = 0.03 + 0.12 * rng.unit();
                    let r = Rect::new(
                        Coord {
                            x: c.x() - h,
                            y: c.y() - h,
                        },
                        Coord {
                            x: c.x() + h,
                            y: c.y() + h,
                        },
                    );
                    s.polygon = Some(r.to_polygon());
                }
            }
            match rng.below(100) {
                0..50 => s.phone = Some(format!("+25884{i:07}")),
                50..70 => s.email = Some(email(i, &mut rng)),
                70..80 => s.hook = Some(i),
                _ => {
                    s.phone = Some(format!("+25882{i:07}"));
                    s.email = Some(email(i, &mut rng));
                }
            }
            s.covers = ds
                .iter()
                .filter(|d| {
                    s.districts.contains(&d.pcode)
                        || s.provinces.contains(&d.province)
                        || s.polygon.as_ref().is_some_and(|p| d.shape.intersects(p))
                })
                .map(|d| d.pcode.clone())
                .collect();
            assert!(
                !s.covers.is_empty(),
                "{}: every area touches a district",
                s.id
            );
            s
        })
        .collect()
}

fn email(i: usize, rng: &mut SplitMix) -> String {
    let org = [
        "ingd.example.org",
        "iom.example.org",
        "cruzvermelha.example.org",
    ][rng.below(3)];
    format!("pf{i:04}@{org}")
}

/// The subscribers as the admin API imports them (layout in src/notify/subscriber/csv.rs),
/// written the way an operator's spreadsheet would be: Portuguese level names for
/// Portuguese speakers, spaced phone numbers, `sim`/`nao`.
fn to_csv(subs: &[Sub], hook_base: &str) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "name",
        "active",
        "language",
        "min_level",
        "hazards",
        "emails",
        "phones",
        "webhooks",
        "provinces",
        "districts",
        "polygon",
    ])
    .unwrap();
    for s in subs {
        let pt = s.lang == "pt";
        let phone = s.phone.as_ref().map(|p| {
            // "+258 84 000 0123": people write them spaced; the import normalises.
            format!("{} {} {} {}", &p[..4], &p[4..6], &p[6..9], &p[9..])
        });
        let polygon = s.polygon.as_ref().map(|p| {
            let ring: Vec<[f64; 2]> = p.exterior().coords().map(|c| [c.x, c.y]).collect();
            serde_json::json!({"type": "Polygon", "coordinates": [ring]}).to_string()
        });
        let id_num: usize = s.id[4..].parse().unwrap();
        w.write_record([
            s.id.as_str(),
            &format!("Ponto focal {id_num}"),
            if s.active { "sim" } else { "nao" },
            s.lang,
            level_name(s.min_level, pt),
            if s.cyclones {
                if id_num % 2 == 0 { "ciclone" } else { "" }
            } else {
                "cheia"
            },
            s.email.as_deref().unwrap_or(""),
            phone.as_deref().unwrap_or(""),
            &s.hook
                .map(|n| format!("{hook_base}/hook/{n}"))
                .unwrap_or_default(),
            &s.provinces.join(";"),
            &s.districts.join(";"),
            polygon.as_deref().unwrap_or(""),
        ])
        .unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

// --- the oracle ---------------------------------------------------------------------------------

/// One published version as the public API shows it.
struct Version {
    id: String,
    number: u32,
    msg_type: String,
    reference: DateTime<Utc>,
    /// District P-code -> level.
    levels: BTreeMap<String, Level>,
}

fn level_of(s: &str) -> Level {
    Level::ALL.into_iter().find(|l| l.name_en() == s).unwrap()
}

/// One message of a subscriber's story: (version, notice, level told).
type Told = (u32, &'static str, Option<Level>);

/// (version, notice, level told) for every message the issue's rules give `s`: new event,
/// raised, lowered, all-clear (a Cancel, or their areas fell below their minimum level),
/// nothing when nothing changed for them. No reminders: the versions' `sent` times are
/// the service's clock, minutes apart, far inside the 12 h repeat interval.
fn expected_story(s: &Sub, versions: &[Version]) -> Vec<Told> {
    if !s.active || !s.cyclones {
        return Vec::new();
    }
    let mut told: Option<Level> = None;
    let mut out = Vec::new();
    for v in versions {
        let now = if v.msg_type == "Cancel" {
            None
        } else {
            v.levels
                .iter()
                .filter(|(p, l)| s.covers.contains(*p) && **l >= s.min_level)
                .map(|(_, l)| *l)
                .max()
        };
        let kind = match (told, now) {
            (None, Some(_)) => Some("new_event"),
            (Some(_), None) => Some("all_clear"),
            (Some(t), Some(n)) if n > t => Some("raised"),
            (Some(t), Some(n)) if n < t => Some("lowered"),
            _ => None,
        };
        if let Some(k) = kind {
            out.push((v.number, k, now));
            told = now;
        }
    }
    out
}

/// The start of an SMS, in the subscriber's language, as the issue's notices read:
/// "ALERTA VERMELHO:", "ALERTA SOBE PARA LARANJA:", "FIM DO ALERTA:"; "RED ALERT:",
/// "ALERT LOWERED TO YELLOW:", "ALL CLEAR:".
fn sms_head(kind: &str, level: Option<Level>, pt: bool) -> String {
    let l = level.map(|l| level_name(l, pt).to_uppercase());
    match (kind, pt) {
        ("new_event", true) => format!("ALERTA {}:", l.unwrap()),
        ("raised", true) => format!("ALERTA SOBE PARA {}:", l.unwrap()),
        ("lowered", true) => format!("ALERTA DESCE PARA {}:", l.unwrap()),
        ("all_clear", true) => "FIM DO ALERTA:".into(),
        ("new_event", false) => format!("{} ALERT:", l.unwrap()),
        ("raised", false) => format!("ALERT RAISED TO {}:", l.unwrap()),
        ("lowered", false) => format!("ALERT LOWERED TO {}:", l.unwrap()),
        ("all_clear", false) => "ALL CLEAR:".into(),
        other => panic!("no notice {other:?}"),
    }
}

/// `{subscriber}.{event}.v{version}.{channel}.{hash}` -> (subscriber, version, channel).
fn parse_key(k: &str) -> (String, u32, String) {
    let parts: Vec<&str> = k.split('.').collect();
    assert_eq!(parts.len(), 5, "{k}");
    (
        parts[0].to_string(),
        parts[2][1..].parse().unwrap(),
        parts[3].to_string(),
    )
}

// --- the feed, the SMS gateway and the webhook receivers -------------------------------------------

/// One request a gateway answered.
#[derive(Clone)]
struct Hit {
    key: String,
    /// SMS: the number; webhook: the receiver's number.
    to: String,
    /// SMS: the text; webhook: the JSON payload.
    body: String,
    status: u16,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Gateways {
    sms_accepted: u32,
    /// Requests the SMS gateway will still refuse once its outage starts.
    sms_outage_left: u32,
    sms: Vec<Hit>,
    hooks: Vec<Hit>,
    bad_signatures: u32,
}

type Shared = Arc<Mutex<Gateways>>;

async fn sms_gateway(State(g): State<Shared>, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let v: Value = serde_json::from_slice(&body).unwrap();
    let key = key_of(&h);
    assert_eq!(
        v["reference"],
        key.as_str(),
        "the body carries the same key"
    );
    let mut g = g.lock().unwrap();
    let down = g.sms_accepted >= OUTAGE_AFTER && g.sms_outage_left > 0;
    let status = if down {
        g.sms_outage_left -= 1;
        503
    } else {
        g.sms_accepted += 1;
        200
    };
    let n = g.sms.len();
    g.sms.push(Hit {
        key,
        to: v["to"].as_str().unwrap().to_string(),
        body: v["text"].as_str().unwrap().to_string(),
        status,
        at: Utc::now(),
    });
    if down {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "gateway under maintenance".into(),
        )
    } else {
        (
            StatusCode::OK,
            format!(r#"{{"id":"gw-{n}","status":"accepted"}}"#),
        )
    }
}

async fn hook_receiver(
    State(g): State<Shared>,
    UrlPath(n): UrlPath<usize>,
    h: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sig = h
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut g = g.lock().unwrap();
    if !verify(HOOK_SECRET.as_bytes(), &body, sig) {
        g.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let key = key_of(&h);
    let first = !g.hooks.iter().any(|x| x.key == key);
    let status = if n % FLAKY_HOOK_EVERY == 0 && first {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::NO_CONTENT
    };
    g.hooks.push(Hit {
        key,
        to: n.to_string(),
        body: String::from_utf8(body.to_vec()).unwrap(),
        status: status.as_u16(),
        at: Utc::now(),
    });
    status
}

/// The feed: the issuance the test has reached (404 before the first), with an ETag as
/// RSMC's server sends, so unchanged polls are answered 304.
struct Feed {
    issuances: Vec<(DateTime<Utc>, Vec<u8>)>,
    current: Mutex<Option<usize>>,
}

async fn feed(State(f): State<Arc<Feed>>, h: HeaderMap) -> Response {
    let Some(i) = *f.current.lock().unwrap() else {
        return (StatusCode::NOT_FOUND, "no issuance yet").into_response();
    };
    let (t, bytes) = &f.issuances[i];
    let etag = format!("\"freddy-{}\"", t.format("%Y%m%d%H%M"));
    if h.get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, etag),
        ],
        bytes.clone(),
    )
        .into_response()
}

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

// --- the service ------------------------------------------------------------------------------------

/// `aviso serve`, killed if the test fails before stopping it.
struct Service {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Service {
    fn start(config: &Path, data: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
            .arg("--config")
            .arg(config)
            .args(["serve", "--data-dir"])
            .arg(data)
            .env_remove("AVISO_CONFIG")
            .env_remove("AVISO_LAYERS")
            .env_remove("AVISO_STATE_DIR")
            .env("AVISO_REPLAY_EDITOR_TOKEN", EDITOR_TOKEN)
            .env("AVISO_REPLAY_HOOK_SECRET", HOOK_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Service {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The API's address, from the start-up line.
    async fn address(&self) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(a) = self.log.lock().unwrap().iter().find_map(|l| {
                l.split("serving on http://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .map(|a| format!("http://{a}"))
            }) {
                return a;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "aviso serve did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, as a service manager stops it; its exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // The shell's own `kill`: no procps needed.
        let ok = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        child.wait().unwrap()
    }
}

async fn get_json(c: &reqwest::Client, url: &str) -> Value {
    let text = c.get(url).send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// `/metrics` as name{labels} -> value.
async fn metrics(c: &reqwest::Client, api: &str) -> BTreeMap<String, f64> {
    let text = c
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, k: &str) -> f64 {
    m.get(k).copied().unwrap_or(0.0)
}

/// Messages pending or being sent, over every channel.
fn busy(m: &BTreeMap<String, f64>) -> f64 {
    ["email", "sms", "webhook"]
        .iter()
        .flat_map(|c| ["pending", "sending"].map(|s| (c, s)))
        .map(|(c, s)| {
            metric(
                m,
                &format!("aviso_notify_outbox_messages{{channel=\"{c}\",state=\"{s}\"}}"),
            )
        })
        .sum()
}

/// One replayed issuance, as the test drove it.
struct Step {
    at: DateTime<Utc>,
    /// Wall seconds from serving the issuance to its messages all delivered.
    served_to_settled_s: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freddy_through_the_service_reaches_a_thousand_subscribers_exactly_once() {
    let t_all = Instant::now();
    let (Some(track_path), Some(districts_path)) =
        (common::data_file(TRACK), common::data_file(DISTRICTS))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    aviso::feeds::fetch::install_crypto_provider();

    // The feed: Freddy's best track as RSMC documents, one per issuance, rendered by the
    // demo's replay (a perfect 120 h forecast from each fix).
    let opts = aviso::feeds::ParseOptions {
        storm: aviso::feeds::StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..Default::default()
    };
    let track = aviso::feeds::parse(&std::fs::read(&track_path).unwrap(), "ibtracs", &opts)
        .unwrap()
        .forecast;
    let every_h: i64 = std::env::var("AVISO_REPLAY_EVERY_H")
        .ok()
        .map(|v| v.parse().expect("AVISO_REPLAY_EVERY_H: whole hours"))
        .unwrap_or(EVERY_H);
    let issuances = Replay::new(
        &track,
        FROM.parse().unwrap(),
        chrono::Duration::hours(every_h),
        chrono::Duration::hours(120),
        Duration::from_secs(1),
    )
    .issuances;
    let feed_state = Arc::new(Feed {
        issuances,
        current: Mutex::new(None),
    });
    let feed_base = serve(
        Router::new()
            .route("/rsmc/freddy.json", get(feed))
            .with_state(Arc::clone(&feed_state)),
    )
    .await;
    let gateways: Shared = Arc::new(Mutex::new(Gateways {
        sms_outage_left: OUTAGE_REQUESTS,
        ..Gateways::default()
    }));
    let recv_base = serve(
        Router::new()
            .route("/sms", post(sms_gateway))
            .route("/hook/{n}", post(hook_receiver))
            .with_state(Arc::clone(&gateways)),
    )
    .await;

    // A site's configuration: one RSMC feed polled every second (the test decides when a
    // new issuance appears), the three channels, an editor token from the environment,
    // quick retries and generous rate limits (this measures the service, not a gateway
    // contract: at the default 5 SMS/s a batch of N SMS takes N/5 s).
    let data = dir.path().join("store");
    let config = dir.path().join("site.toml");
    let publish_all = crate::common::PUBLISH_ALL;
    std::fs::write(
        &config,
        format!(
            r#"{publish_all}[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
layers = "{layers}"
[http]
retries = 0
connect_timeout_s = 2.0
timeout_s = 10.0
[probabilistic]
# issue 12's probabilistic step has its own test (probabilistic_service); in a debug
# build it costs seconds per version, which this test does not need
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feed_base}/rsmc/freddy.json"
schedule = "* * * * * *"
[notify.email]
enabled = true
host = "localhost"
port = {smtp}
security = "none"
from = "Alertas INGD <alertas@aviso.example.org>"
timeout_s = 10.0
[notify.sms]
enabled = true
url = "{recv_base}/sms"
body_format = "json"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
timeout_s = 10.0
[notify.webhook]
enabled = true
secret_env = "AVISO_REPLAY_HOOK_SECRET"
allow_private_targets = true
timeout_s = 10.0
[notify.outbox]
# More attempts than the outage refuses: even a lone message caught in it gets through.
max_attempts = {max_attempts}
backoff_initial_s = 0.2
backoff_max_s = 1.0
poll_interval_s = 0.05
[notify.outbox.rate]
email = {{ per_second = 500.0, burst = 100 }}
sms = {{ per_second = 500.0, burst = 100 }}
webhook = {{ per_second = 500.0, burst = 100 }}
[[notify.token]]
name = "replay-editor"
role = "editor"
token_env = "AVISO_REPLAY_EDITOR_TOKEN"
"#,
            layers = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("layers")
                .display(),
            smtp = smtpd.port,
            max_attempts = OUTAGE_REQUESTS + 2,
        ),
    )
    .unwrap();
    let mut service = Service::start(&config, &data);

    // While the service loads its layers: the subscribers, over the real districts.
    let ds = districts(&districts_path);
    let subs = subscribers(&ds);
    assert!(
        subs.iter()
            .any(|s| s.polygon.is_some() && s.covers.len() > 1),
        "some polygon areas straddle a district boundary"
    );
    let csv = to_csv(&subs, &recv_base);
    let api = service.address().await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{api}/api/admin/subscribers.csv"))
        .bearer_auth(EDITOR_TOKEN)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["created"].as_u64(), Some(SUBSCRIBERS as u64), "{v}");
    let m = metrics(&c, &api).await;
    let active = subs.iter().filter(|s| s.active).count();
    assert_eq!(
        metric(&m, "aviso_notify_subscribers{state=\"active\"}"),
        active as f64
    );

    // --- The replay: one issuance at a time, each processed and delivered before the next.
    let mut steps = Vec::new();
    for i in 0..feed_state.issuances.len() {
        let at = feed_state.issuances[i].0;
        let t0 = Instant::now();
        *feed_state.current.lock().unwrap() = Some(i);
        loop {
            let m = metrics(&c, &api).await;
            assert_eq!(
                metric(&m, "aviso_issuances{state=\"failed\"}"),
                0.0,
                "{at}: an issuance failed:\n{}",
                service.log()
            );
            if metric(&m, "aviso_issuances{state=\"processed\"}") == (i + 1) as f64
                && busy(&m) == 0.0
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "{at}: not processed and delivered after 90 s:\n{}",
                service.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        steps.push(Step {
            at,
            served_to_settled_s: t0.elapsed().as_secs_f64(),
        });
    }

    // The published versions, as the public API shows them.
    let events = get_json(&c, &format!("{api}/api/events")).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one event, Freddy: {events:?}");
    let event_id = events[0]["event_id"].as_str().unwrap().to_string();
    let history = get_json(&c, &format!("{api}/api/events/{event_id}")).await;
    let versions: Vec<Version> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Version {
            id: v["id"].as_str().unwrap().to_string(),
            number: v["version"].as_u64().unwrap() as u32,
            msg_type: v["msg_type"].as_str().unwrap().to_string(),
            reference: v["reference_time"].as_str().unwrap().parse().unwrap(),
            levels: v["districts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["pcode"].as_str().unwrap().to_string(),
                        level_of(d["level"].as_str().unwrap()),
                    )
                })
                .collect(),
        })
        .collect();

    // Stopped as a service manager stops it: cleanly, with its own delivery count.
    let exit = service.stop();
    let log = service.log();
    assert!(exit.success(), "{exit:?}:\n{log}");
    assert!(log.contains("aviso::app::service: stopped"), "{log}");

    // What the store says was queued, and each attempt with the gateway's answer.
    let store = SqliteStore::open_dir(&data).unwrap();
    let rows: Vec<OutboxRow> = store.outbox(None).unwrap();
    let g = std::mem::take(&mut *gateways.lock().unwrap());
    let mails = read_maildir(&smtpd.maildir);

    // --- Versions: one per issuance that changed something, in order, ending in a Cancel.
    assert!(
        versions.len() >= 3,
        "Alert, Updates, Cancel: {}",
        versions.len()
    );
    assert_eq!(versions[0].msg_type, "Alert");
    assert_eq!(versions.last().unwrap().msg_type, "Cancel");
    for (n, v) in versions.iter().enumerate() {
        assert_eq!(v.number as usize, n + 1, "versions are numbered 1, 2, ...");
        assert!(
            steps.iter().any(|s| s.at == v.reference),
            "v{} comes from a served issuance ({})",
            v.number,
            v.reference
        );
    }
    assert!(
        versions.windows(2).all(|w| w[0].reference < w[1].reference),
        "one version per issuance at most, in issuance order"
    );

    // --- Who should have got what, against what the store queued.
    let by_id: BTreeMap<&str, &Sub> = subs.iter().map(|s| (s.id.as_str(), s)).collect();
    let stories: BTreeMap<&str, Vec<Told>> = subs
        .iter()
        .map(|s| (s.id.as_str(), expected_story(s, &versions)))
        .collect();
    let expected_rows: usize = subs
        .iter()
        .map(|s| stories[s.id.as_str()].len() * s.channels().len())
        .sum();
    assert_eq!(
        rows.len(),
        expected_rows,
        "the store queued exactly what the rules give"
    );
    let mut queued: BTreeMap<(String, u32, ChannelKind), &OutboxRow> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.state, OutboxState::Delivered, "{r:?}");
        assert_eq!(r.event_id, event_id);
        let prev = queued.insert(
            (r.message.subscriber_id.clone(), r.version, r.message.kind()),
            r,
        );
        assert!(
            prev.is_none(),
            "{} queued twice for v{} ({:?})",
            r.message.subscriber_id,
            r.version,
            r.message.kind()
        );
    }
    for s in &subs {
        for (version, kind, level) in &stories[s.id.as_str()] {
            for ch in s.channels() {
                let r = queued
                    .get(&(s.id.clone(), *version, ch))
                    .unwrap_or_else(|| panic!("{} v{version} {ch:?}: not queued", s.id));
                assert_eq!(r.notice.as_str(), *kind, "{} v{version}", s.id);
                assert_eq!(r.level, *level, "{} v{version}", s.id);
                assert_eq!(
                    r.alert_id,
                    versions[*version as usize - 1].id,
                    "{} v{version}",
                    s.id
                );
            }
        }
    }

    // --- Exactly once at the gateways: per key, the failures injected, then one acceptance,
    // and as many requests as the store counted attempts.
    let mut attempts_by_key: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for h in g.sms.iter().chain(&g.hooks) {
        attempts_by_key.entry(&h.key).or_default().push(h.status);
    }
    let mut retried = 0;
    for r in &rows {
        let key = r.message.idempotency_key.as_str();
        let recorded = store.attempts(r.id).unwrap();
        assert_eq!(recorded.len() as u32, r.attempts, "{key}");
        assert!(
            matches!(
                recorded.last().map(|a| &a.outcome),
                Some(AttemptOutcome::Delivered { .. })
            ),
            "{key}: {recorded:?}"
        );
        retried += recorded.len() - 1;
        if r.message.kind() == ChannelKind::Email {
            continue;
        }
        let seen = attempts_by_key
            .get(key)
            .unwrap_or_else(|| panic!("{key} never reached its gateway"));
        assert_eq!(seen.len() as u32, r.attempts, "{key}: {seen:?}");
        let (last, before) = seen.split_last().unwrap();
        assert!((200..300).contains(last), "{key}: {seen:?}");
        assert!(
            before.iter().all(|s| *s == 503 || *s == 502),
            "{key}: a repeat only after a refusal: {seen:?}"
        );
        for (a, s) in recorded.iter().zip(seen) {
            if let AttemptOutcome::Retry { status_code, .. } = &a.outcome {
                assert_eq!(
                    *status_code,
                    Some(*s),
                    "{key}: the gateway's answer recorded"
                );
            }
        }
    }
    let gateway_keys = attempts_by_key.len();
    let sms_rows = rows
        .iter()
        .filter(|r| r.message.kind() == ChannelKind::Sms)
        .count();
    let hook_rows = rows
        .iter()
        .filter(|r| r.message.kind() == ChannelKind::Webhook)
        .count();
    assert_eq!(
        gateway_keys,
        sms_rows + hook_rows,
        "no request for a key the store does not hold"
    );
    let refused_503 = g.sms.iter().filter(|h| h.status == 503).count();
    let refused_502 = g.hooks.iter().filter(|h| h.status == 502).count();
    assert_eq!(
        refused_503, OUTAGE_REQUESTS as usize,
        "the outage happened and ended"
    );
    assert!(refused_502 > 0, "the flaky receivers were asked");
    assert_eq!(
        retried,
        refused_503 + refused_502,
        "every retry answers a refusal"
    );
    assert_eq!(g.bad_signatures, 0);
    assert!(
        log.contains(&format!(
            "notify: messages since start delivered={} retried={retried} given_up=0",
            rows.len()
        )),
        "{log}"
    );

    // E-mail: one per queued e-mail, each Message-ID once, to the subscriber's address.
    let email_rows = rows.len() - sms_rows - hook_rows;
    assert_eq!(mails.len(), email_rows);
    let mut mail_ids = BTreeSet::new();
    let mut received: Vec<(String, u32, ChannelKind, String)> = Vec::new();
    for m in &mails {
        let id = m["message_id"].as_str().unwrap().trim_matches(['<', '>']);
        assert!(mail_ids.insert(id.to_string()), "{id} delivered twice");
        let key = id.split('@').next().unwrap();
        let (sid, version, _) = parse_key(key);
        let s = by_id[sid.as_str()];
        assert_eq!(m["rcpt"].as_str(), s.email.as_deref(), "{key}");
        received.push((
            sid,
            version,
            ChannelKind::Email,
            m["subject"].as_str().unwrap().to_string(),
        ));
    }
    for h in g.sms.iter().filter(|h| h.status == 200) {
        let (sid, version, _) = parse_key(&h.key);
        let s = by_id[sid.as_str()];
        assert_eq!(Some(&h.to), s.phone.as_ref(), "{}", h.key);
        let seg = aviso::notify::gsm::count_segments(&h.body);
        assert!(seg.segments <= 2, "{seg:?}: {}", h.body);
        received.push((sid, version, ChannelKind::Sms, h.body.clone()));
    }
    for h in g.hooks.iter().filter(|h| h.status == 204) {
        let (sid, version, _) = parse_key(&h.key);
        let s = by_id[sid.as_str()];
        assert_eq!(Some(h.to.parse().unwrap()), s.hook, "{}", h.key);
        received.push((sid, version, ChannelKind::Webhook, h.body.clone()));
    }

    // --- Each subscriber's messages, as received, tell the story the rules give: only
    // their districts at or above their minimum level, never twice for one version,
    // in their language, and ending with the all-clear.
    let mut got: BTreeMap<(&str, ChannelKind), Vec<(u32, &str)>> = BTreeMap::new();
    for (sid, version, ch, content) in &received {
        got.entry((by_id[sid.as_str()].id.as_str(), *ch))
            .or_default()
            .push((*version, content.as_str()));
    }
    let mut reached = 0;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &subs {
        let story = &stories[s.id.as_str()];
        let pt = s.lang == "pt";
        for ch in s.channels() {
            let mut msgs = got.remove(&(s.id.as_str(), ch)).unwrap_or_default();
            msgs.sort_by_key(|m| m.0);
            let versions_got: Vec<u32> = msgs.iter().map(|m| m.0).collect();
            let versions_want: Vec<u32> = story.iter().map(|x| x.0).collect();
            assert_eq!(versions_got, versions_want, "{} {ch:?}", s.id);
            for ((version, content), (_, kind, level)) in msgs.iter().zip(story) {
                match ch {
                    ChannelKind::Sms => {
                        let head = sms_head(kind, *level, pt);
                        assert!(
                            content.starts_with(&head),
                            "{} v{version}: {content:?} should start {head:?}",
                            s.id
                        );
                        assert!(content.contains(if pt { "ciclone" } else { "cyclone" }));
                    }
                    ChannelKind::Email => assert!(
                        content.contains(if pt {
                            "ciclone FREDDY"
                        } else {
                            "cyclone FREDDY"
                        }),
                        "{} v{version}: {content}",
                        s.id
                    ),
                    ChannelKind::Webhook => {
                        let p: Value = serde_json::from_str(content).unwrap();
                        assert_eq!(p["notice"], *kind, "{}: {p}", s.id);
                        assert_eq!(p["level"].as_str(), level.map(|l| l.name_en()), "{p}");
                        assert_eq!(p["language"], s.lang);
                        assert_eq!(p["version"].as_u64(), Some(u64::from(*version)));
                    }
                }
            }
        }
        if let Some((_, last, _)) = story.last() {
            reached += 1;
            assert_eq!(*last, "all_clear", "{} ends with the all-clear", s.id);
        }
        for (_, kind, level) in story {
            *kinds.entry(kind).or_default() += 1;
            if let Some(l) = level {
                assert!(*l >= s.min_level, "{}: told {l:?}", s.id);
            }
        }
    }
    assert!(
        got.is_empty(),
        "messages to channels nobody has: {:?}",
        got.keys()
    );
    for s in subs.iter().filter(|s| !s.active || !s.cyclones) {
        assert!(stories[s.id.as_str()].is_empty());
    }
    for kind in ["new_event", "raised", "lowered", "all_clear"] {
        assert!(
            kinds.contains_key(kind),
            "the replay exercises {kind}: {kinds:?}"
        );
    }
    assert!(
        reached > SUBSCRIBERS / 10,
        "Freddy crossed Inhambane, Sofala, Manica, Zambezia, Tete: {reached} subscribers reached"
    );
    // The gateways saw each message between its commit and the store's record of delivery.
    let tolerance = chrono::Duration::milliseconds(5);
    for h in g.sms.iter().chain(&g.hooks).filter(|h| h.status < 300) {
        let r = rows
            .iter()
            .find(|r| r.message.idempotency_key == h.key)
            .unwrap();
        assert!(
            h.at + tolerance >= r.created_at && h.at <= r.delivered_at.unwrap() + tolerance,
            "{}: at the gateway {} outside [{}, {:?}]",
            h.key,
            h.at,
            r.created_at,
            r.delivered_at
        );
    }

    // --- The personal data stays out of the service's log.
    for s in &subs {
        for p in [&s.phone, &s.email].into_iter().flatten() {
            assert!(!log.contains(p.as_str()), "{p} in the log");
        }
    }
    assert!(!log.contains("/hook/"), "webhook URLs in the log");
    assert!(
        !log.contains("Ponto focal"),
        "subscribers' names in the log"
    );

    // --- The report.
    let mut table = String::new();
    let _ = writeln!(
        table,
        "issuance           version      ladder  queued  sms email hook  retries  commit->last ack  served->settled"
    );
    let mut total_s = 0.0;
    for st in &steps {
        let v = versions.iter().find(|v| v.reference == st.at);
        let Some(v) = v else {
            let _ = writeln!(
                table,
                "{}  (no change)                                                     {:>12.3} s",
                st.at.format("%Y-%m-%d %H:%MZ"),
                st.served_to_settled_s
            );
            continue;
        };
        let mine: Vec<&OutboxRow> = rows.iter().filter(|r| r.alert_id == v.id).collect();
        let n = |k: ChannelKind| mine.iter().filter(|r| r.message.kind() == k).count();
        let retries: u32 = mine.iter().map(|r| r.attempts - 1).sum();
        let took = mine
            .iter()
            .map(|r| {
                (r.delivered_at.unwrap() - r.created_at)
                    .num_microseconds()
                    .unwrap()
            })
            .max()
            .map(|us| us as f64 / 1e6);
        total_s += took.unwrap_or(0.0);
        let _ = writeln!(
            table,
            "{}  v{:<3} {:<7} {:>5}  {:>6}  {:>4} {:>5} {:>4}  {:>7}  {:>14}  {:>12.3} s",
            st.at.format("%Y-%m-%d %H:%MZ"),
            v.number,
            v.msg_type,
            v.levels.len(),
            mine.len(),
            n(ChannelKind::Sms),
            n(ChannelKind::Email),
            n(ChannelKind::Webhook),
            retries,
            took.map(|t| format!("{t:.3} s"))
                .unwrap_or_else(|| "-".into()),
            st.served_to_settled_s
        );
    }
    let outage_versions: Vec<String> = g
        .sms
        .iter()
        .filter(|h| h.status == 503)
        .map(|h| parse_key(&h.key).1)
        .collect::<BTreeSet<_>>()
        .iter()
        .map(|v| format!("v{v}"))
        .collect();
    let slowest = rows
        .iter()
        .map(|r| (r.delivered_at.unwrap() - r.created_at).num_milliseconds())
        .max()
        .unwrap_or(0);
    eprintln!(
        "{table}Freddy through `aviso serve`: {} issuances ({every_h}-hourly from {FROM}), {} versions, {} messages ({sms_rows} SMS, {email_rows} e-mails, {hook_rows} webhooks) to {reached} of {SUBSCRIBERS} subscribers; by kind {kinds:?}; {retried} retries ({refused_503} SMS refused during the gateway's outage (messages of {}), {refused_502} webhook refusals); no key accepted twice; batches delivered in {total_s:.2} s in all, slowest message {slowest} ms after its commit; test {:.1} s",
        steps.len(),
        versions.len(),
        rows.len(),
        outage_versions.join(", "),
        t_all.elapsed().as_secs_f64()
    );
}
