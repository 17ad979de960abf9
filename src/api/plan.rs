//! The contingency plan of a published version, `GET /api/alerts/{id}/plan?f=html|pdf|csv|geojson`
//! (issue 14 part 5): where the people at risk of that version would go, with the register
//! of accommodation centres in force now (the store's, else the DEMONSTRATION register
//! built from the health-facility layer, which every output says it is).
//!
//! The API never runs the pipeline nor a child process itself: the wiring hands it two
//! capabilities, a [`VersionAssessor`] (the version's assessment computed again from its
//! stored issuance) and a [`PdfPrinter`] (headless Chromium). The plan itself is the pure
//! core's (`crate::plan`); its tables and the sheet are rendered here. A plan is kept per
//! (version, register revision), so a version is planned once until the register
//! changes. An adapter at the edge: must not depend on the pipeline or the wiring.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use geojson::FeatureCollection;
use serde_json::Value;

mod probabilities;

use probabilities::probabilities_of;

use super::ogc::plan::PlanCollections;
use super::{ApiError, ApiState};
use crate::alerts::assess::Assessment;
use crate::alerts::assess_flood::FloodAssessment;
use crate::alerts::levels::Level;
use crate::alerts::versioning::{CapStatus, MsgType};
use crate::domain::{Lang, Register};
use crate::exposure::IndexedLayers;
use crate::plan::output::{plan_csv, plan_geojson};
use crate::plan::register::{DEMONSTRATION_NOTE, RegisterBook, demonstration_from_layers};
use crate::plan::sheet::{SheetOptions, flood_sheet_html, sheet_html};
use crate::plan::{
    FloodPlanInput, Plan, PlanConfig, PlanInput, build_flood_plan, build_plan_at_levels,
};
use crate::store::registers::{RegisterStore, RevisionInfo};
use crate::store::{AlertRecord, AlertSummary, HazardKind};

/// A published version's assessment, computed again from its stored issuance (the
/// wiring's: the API may not parse feeds). `Err` says why, naming the version or issuance.
pub trait VersionAssessor: Send + Sync {
    /// A cyclone version's.
    fn assess_version(&self, version: &AlertSummary) -> Result<Assessment, String>;
    /// A flood version's (station forecast or flood map).
    fn assess_flood_version(&self, version: &AlertSummary) -> Result<FloodAssessment, String>;
}

/// Prints a self-contained HTML page to PDF bytes (the wiring's headless Chromium).
pub type PdfPrinter = Arc<dyn Fn(&str) -> Result<Vec<u8>, String> + Send + Sync>;

/// Plans kept: a few versions of the active events in both languages. Each holds its
/// assessment (a few MB for a storm over Mozambique's districts).
const CACHED_PLANS: usize = 8;

/// The formats of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Format {
    Html,
    Pdf,
    Csv,
    GeoJson,
}

impl Format {
    fn parse(s: &str) -> Option<Format> {
        match s {
            "html" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            "csv" => Some(Format::Csv),
            "geojson" | "json" => Some(Format::GeoJson),
            _ => None,
        }
    }
    fn media(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
            Format::Csv => "text/csv; charset=utf-8",
            Format::GeoJson => "application/geo+json",
        }
    }
    fn ext(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Csv => "csv",
            Format::GeoJson => "geojson",
        }
    }
}

/// The register a plan is made with.
#[derive(Clone)]
pub(crate) struct InForce {
    /// "r12" for the store's revision 12, "demo" for the demonstration register.
    pub(crate) key: String,
    pub(crate) register: Arc<Register>,
    pub(crate) info: Option<RevisionInfo>,
}

/// A plan's renderings by format and language.
type Rendered = HashMap<(Format, Lang), Arc<Vec<u8>>>;

/// A cached plan's key: ([`version_key`], register key of [`InForce`]).
type PlanKey = (String, String);

/// The assessment a plan's sheet draws from (its trigger state, arrival times, map).
enum Assessed {
    Cyclone(Box<Assessment>),
    Flood(Box<FloodAssessment>),
}

/// One version planned with one register, and what was rendered of it.
struct Built {
    /// (version, register) as "<version key>@<register key>".
    key: String,
    plan: Plan,
    /// The assessment the sheet draws from.
    assessment: Assessed,
    rendered: Mutex<Rendered>,
    /// The plan's GeoJSON features, written once (`plan_geojson`): the `f=geojson`
    /// answer and the OGC API's plan collections are both cut from it.
    features: OnceLock<Arc<FeatureCollection>>,
}

impl Built {
    fn features(&self, decimals: u32) -> Arc<FeatureCollection> {
        Arc::clone(
            self.features
                .get_or_init(|| Arc::new(plan_geojson(&self.plan, decimals))),
        )
    }
}

/// A version's plan as GeoJSON features, for the OGC API's plan collections.
pub(crate) struct PlanFeatures {
    /// Changes when the version or the register in force changes.
    pub(crate) key: String,
    pub(crate) features: Arc<FeatureCollection>,
}

/// What the plan and register routes need (`aviso serve`).
pub struct PlanApi {
    pub(crate) registers: Arc<dyn RegisterStore>,
    assessor: Arc<dyn VersionAssessor>,
    pub(crate) layers: Arc<IndexedLayers>,
    pub(crate) cfg: PlanConfig,
    decimals: u32,
    printer: Option<PdfPrinter>,
    /// The demonstration register, validated once at first use (`Err`: why there is none).
    demo: OnceLock<Result<Arc<Register>, String>>,
    cache: Mutex<VecDeque<(PlanKey, Arc<Built>)>>,
    /// One plan built at a time (CPU work): a second request for the same one waits and
    /// finds it cached.
    building: Mutex<()>,
    /// One PDF printed at a time: each is a Chromium process of some 200 MB, and the route
    /// is public.
    printing: Mutex<()>,
    /// The OGC API's plan collections drawn per selection of versions
    /// (`api::ogc::plan`), newest last.
    drawn: Mutex<VecDeque<(String, Arc<PlanCollections>)>>,
    /// Register imports and occupancy updates one at a time, so each is validated against
    /// the register it replaces.
    pub(crate) writing: tokio::sync::Mutex<()>,
}

/// A version as the plan reads it: its id, and when its probabilities were attached (a
/// version published while they were pending is planned again once they come).
fn version_key(rec: &AlertRecord) -> String {
    match &rec.annex {
        None => rec.summary.id.clone(),
        Some(a) => format!("{}+p{}", rec.summary.id, a.attached_at.timestamp_millis()),
    }
}

/// A poisoned lock only means a thread panicked while holding it; the values behind
/// these are replaced whole, so they are used.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PlanApi {
    /// `decimals`: coordinate decimals of the GeoJSON (`[output] coordinate_decimals`);
    /// `printer`: `None` when no Chromium is configured (PDF answers 503).
    pub fn new(
        registers: Arc<dyn RegisterStore>,
        assessor: Arc<dyn VersionAssessor>,
        layers: Arc<IndexedLayers>,
        cfg: PlanConfig,
        decimals: u32,
        printer: Option<PdfPrinter>,
    ) -> PlanApi {
        PlanApi {
            registers,
            assessor,
            layers,
            cfg,
            decimals,
            printer,
            demo: OnceLock::new(),
            cache: Mutex::new(VecDeque::new()),
            building: Mutex::new(()),
            printing: Mutex::new(()),
            drawn: Mutex::new(VecDeque::new()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The register in force: the store's newest revision, else the demonstration one.
    /// Blocking (a store read, the demonstration register's validation).
    pub(crate) fn in_force(&self) -> Result<InForce, ApiError> {
        let internal = |e: crate::store::StoreError| ApiError::Internal {
            cause: e.to_string(),
        };
        if let Some(stored) = self.registers.current_register().map_err(internal)? {
            return Ok(InForce {
                key: format!("r{}", stored.info.revision),
                register: Arc::new(stored.register),
                info: Some(stored.info),
            });
        }
        let demo = self.demo.get_or_init(|| {
            let register = demonstration_from_layers(&self.layers.layers).ok_or_else(|| {
                "no register was imported (POST /api/admin/register) and the layers have no \
                 health_facility layer to build the demonstration register from"
                    .to_string()
            })?;
            let mut book = RegisterBook::default();
            book.offer(register, Vec::new(), &self.layers.layers, &self.cfg)
                .map_err(|e| e.to_string())?;
            book.current()
                .cloned()
                .map(Arc::new)
                .ok_or_else(|| "the demonstration register was not accepted".to_string())
        });
        match demo {
            Ok(register) => Ok(InForce {
                key: "demo".into(),
                register: Arc::clone(register),
                info: None,
            }),
            Err(e) => Err(ApiError::Unprocessable { message: e.clone() }),
        }
    }

    /// The key of the register in force without reading its entries.
    fn in_force_key(&self) -> Result<String, ApiError> {
        match self.registers.current_revision() {
            Ok(Some(info)) => Ok(format!("r{}", info.revision)),
            Ok(None) => Ok("demo".into()),
            Err(e) => Err(ApiError::Internal {
                cause: e.to_string(),
            }),
        }
    }

    fn cached(&self, key: &PlanKey) -> Option<Arc<Built>> {
        lock(&self.cache)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, b)| Arc::clone(b))
    }

    /// The plan of `rec` with the register in force, built once per (version, register
    /// revision). Blocking.
    fn plan_of(&self, rec: &AlertRecord) -> Result<Arc<Built>, ApiError> {
        let key = (version_key(rec), self.in_force_key()?);
        if let Some(b) = self.cached(&key) {
            return Ok(b);
        }
        let _turn = lock(&self.building);
        if let Some(b) = self.cached(&key) {
            return Ok(b);
        }
        let in_force = self.in_force()?;
        let key = (version_key(rec), in_force.key.clone());
        let started = std::time::Instant::now();
        let built = Arc::new(self.build(rec, &in_force)?);
        tracing::info!(
            version = %rec.summary.id,
            register = %in_force.key,
            centres = built.plan.centres.len(),
            origins = built.plan.origins.len(),
            seconds = started.elapsed().as_secs_f64(),
            "contingency plan built"
        );
        let mut cache = lock(&self.cache);
        cache.push_back((key, Arc::clone(&built)));
        while cache.len() > CACHED_PLANS {
            cache.pop_front();
        }
        Ok(built)
    }

    fn build(&self, rec: &AlertRecord, in_force: &InForce) -> Result<Built, ApiError> {
        let s = &rec.summary;
        let cannot = |message: String| ApiError::Unprocessable {
            message: format!("alert '{}': cannot be planned on: {message}", s.id),
        };
        // The levels the version announced (probability rules may have raised districts
        // above the official track's level the re-run assessment holds).
        let levels: BTreeMap<String, Level> = s
            .districts
            .iter()
            .map(|d| (d.pcode.clone(), d.level))
            .collect();
        let (mut plan, assessment, prob) = if s.hazard == HazardKind::Flood {
            let flood = self.assessor.assess_flood_version(s).map_err(cannot)?;
            let plan = build_flood_plan(
                &FloodPlanInput {
                    assessment: &flood,
                    layers: &self.layers,
                    register: &in_force.register,
                    travel_times: None,
                },
                &self.cfg,
                &levels,
            );
            (plan, Assessed::Flood(Box::new(flood)), None)
        } else {
            let assessment = self.assessor.assess_version(s).map_err(cannot)?;
            let document: Option<Value> = serde_json::from_str(rec.current_document()).ok();
            let prob = document
                .as_ref()
                .and_then(|d| probabilities_of(d, &self.layers));
            let plan = build_plan_at_levels(
                &PlanInput {
                    assessment: &assessment,
                    layers: &self.layers,
                    register: &in_force.register,
                    probabilistic: prob.as_ref(),
                    travel_times: None,
                    extra_unsafe: &[],
                },
                &self.cfg,
                &levels,
            );
            let with_prob = prob.is_some();
            (
                plan,
                Assessed::Cyclone(Box::new(assessment)),
                Some(with_prob),
            )
        };
        let mut head = Vec::new();
        if s.status != CapStatus::Actual {
            head.push(format!(
                "{} version: a drill, not a real alert.",
                s.status.as_str().to_ascii_uppercase()
            ));
        }
        match &in_force.info {
            None => head.push(DEMONSTRATION_NOTE.to_string()),
            Some(i) => head.push(format!(
                "Register revision {} ({}, from {}, by {}, {}).",
                i.revision,
                i.kind.as_str(),
                i.source,
                i.imported_by,
                i.imported_at.format("%Y-%m-%d %H:%M UTC")
            )),
        }
        if prob == Some(false) {
            head.push(
                "People at risk from the official forecast track (no probabilities attached \
                 to this version)."
                    .to_string(),
            );
        }
        plan.notes.splice(0..0, head);
        Ok(Built {
            key: format!("{}@{}", version_key(rec), in_force.key),
            plan,
            assessment,
            rendered: Mutex::new(HashMap::new()),
            features: OnceLock::new(),
        })
    }

    /// Plan collections already drawn for the selection `key`.
    pub(crate) fn drawn_collections(&self, key: &str) -> Option<Arc<PlanCollections>> {
        lock(&self.drawn)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, c)| Arc::clone(c))
    }

    /// Keeps `drawn` for `key`, dropping the oldest beyond `max`.
    pub(crate) fn keep_collections(&self, key: String, drawn: Arc<PlanCollections>, max: usize) {
        let mut kept = lock(&self.drawn);
        kept.retain(|(k, _)| *k != key);
        kept.push_back((key, drawn));
        while kept.len() > max {
            kept.pop_front();
        }
    }

    /// The plan of `rec` (checked with [`plannable`] first) as GeoJSON features, built once
    /// per (version, register revision) as for `/plan`. Blocking.
    pub(crate) fn features_of(&self, rec: &AlertRecord) -> Result<PlanFeatures, ApiError> {
        plannable(&rec.summary)?;
        let built = self.plan_of(rec)?;
        Ok(PlanFeatures {
            key: built.key.clone(),
            features: built.features(self.decimals),
        })
    }

    /// `built` in `format` and `lang`, rendered once. Blocking (PDF: a child process).
    fn render(
        &self,
        built: &Built,
        version: &str,
        format: Format,
        lang: Lang,
    ) -> Result<Arc<Vec<u8>>, ApiError> {
        if let Some(b) = lock(&built.rendered).get(&(format, lang)) {
            return Ok(Arc::clone(b));
        }
        let internal = |what: &str, e: String| ApiError::Internal {
            cause: format!("plan of alert '{version}': {what}: {e}"),
        };
        let html = || {
            let opts = SheetOptions {
                lang,
                version_id: Some(version.to_string()),
                generated_at: Utc::now(),
            };
            let layers = &self.layers.layers;
            Ok::<String, ApiError>(match &built.assessment {
                Assessed::Cyclone(a) => sheet_html(&built.plan, a, layers, &opts),
                Assessed::Flood(a) => flood_sheet_html(&built.plan, a, layers, &opts),
            })
        };
        let bytes = match format {
            Format::Html => html()?.into_bytes(),
            Format::Csv => plan_csv(&built.plan).map_err(|e| internal("CSV", e.to_string()))?,
            Format::GeoJson => serde_json::to_vec(built.features(self.decimals).as_ref())
                .map_err(|e| internal("GeoJSON", e.to_string()))?,
            Format::Pdf => {
                let printer = self.printer.as_ref().ok_or_else(|| ApiError::Unavailable {
                    message: "PDF printing is not available on this server: no headless \
                              Chromium is configured (install Debian's `chromium` or set \
                              AVISO_CHROMIUM, then restart); f=html gives the same sheet"
                        .to_string(),
                })?;
                let _turn = lock(&self.printing);
                if let Some(b) = lock(&built.rendered).get(&(format, lang)) {
                    return Ok(Arc::clone(b));
                }
                let page = html()?;
                printer(&page).map_err(|e| internal("printing the PDF", e))?
            }
        };
        let bytes = Arc::new(bytes);
        lock(&built.rendered).insert((format, lang), Arc::clone(&bytes));
        Ok(bytes)
    }
}

/// Refuses (422, saying why) a version no plan can be made for.
pub(crate) fn plannable(s: &AlertSummary) -> Result<(), ApiError> {
    let id = &s.id;
    if s.msg_type.withdraws() {
        return Err(ApiError::Unprocessable {
            message: format!(
                "alert '{id}' is a{} {}: the event's alert is over, there is nothing to plan \
                 for (the versions before it have their plans)",
                if s.msg_type == MsgType::Error {
                    "n"
                } else {
                    ""
                },
                s.msg_type.as_str()
            ),
        });
    }
    if s.issuance_id.is_none() {
        return Err(ApiError::Unprocessable {
            message: format!("alert '{id}' was issued without a forecast: nothing to plan on"),
        });
    }
    Ok(())
}

/// The plan's query: `f` and `lang`, each at most once; anything else is a 400 naming it.
/// (Not `ogc::query_pairs`, whose `f` is the OGC API's json/geojson.)
fn plan_query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::invalid("(query string)", "a URL-encoded query", &e.body_text()))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if !matches!(k.as_str(), "f" | "lang") {
            return Err(ApiError::invalid(&k, "one of the parameters f, lang", &v));
        }
        if out.contains_key(&k) {
            return Err(ApiError::invalid(&k, "the parameter at most once", &v));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// `GET /api/alerts/{id}/plan`: the contingency plan of a published cyclone or flood version.
#[utoipa::path(get, path = "/api/alerts/{id}/plan", tag = "alerts", operation_id = "getAlertPlan",
    summary = "The contingency plan of one alert version (where people go)",
    description = "Computed from the version's stored forecast, the layers and the register of accommodation centres in force now (the imported one, else a DEMONSTRATION register built from health facilities, which every output says). Per district: people at risk in the ≥ 34 kt footprint, demand (low/central/high), safe free capacity, gap; the centres to open; the allocation of at-risk sites and settlements to safe centres (geodesic distance, no road network). Cyclone and flood versions: a flood's people at risk are those of its flood assessment, its demand uses the flood displacement fractions, its flood areas make centres unsafe, and its sheet gives the stations' trigger state (thresholds, exceedance probabilities) and per district the first day at its level and the peak.",
    params(
        ("id" = String, Path, description = "The version's CAP identifier"),
        ("f" = Option<String>, Query, description = "html (default: the printable sheet), pdf, csv (the district table) or geojson (allocations and centres, EPSG:4326)"),
        ("lang" = Option<String>, Query, description = "pt (default) or en: the sheet's language")),
    responses(
        (status = 200, description = "The plan in the asked format", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter (named)", body = super::Exception),
        (status = 404, description = "Unknown alert", body = super::Exception),
        (status = 422, description = "The version cannot be planned on (a Cancel, its forecast gone)", body = super::Exception),
        (status = 503, description = "PDF asked but no Chromium is configured", body = super::Exception)))]
pub(crate) async fn plan(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = plan_query(q)?;
    let format = match q.get("f") {
        None => Format::Html,
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::invalid("f", "html, pdf, csv or geojson", f))?,
    };
    let lang = match q.get("lang") {
        None => Lang::Pt,
        Some(l) => Lang::parse(l).ok_or_else(|| ApiError::invalid("lang", "pt or en", l))?,
    };
    let api = state.plan.clone().ok_or_else(|| ApiError::NotFound {
        what: "contingency plans (served by `aviso serve` only)".into(),
    })?;
    let rec = super::alerts::record(&state, id.clone()).await?;
    plannable(&rec.summary)?;
    let (id2, api2) = (id.clone(), Arc::clone(&api));
    let bytes = tokio::task::spawn_blocking(move || {
        let built = api2.plan_of(&rec)?;
        api2.render(&built, &id2, format, lang)
    })
    .await
    .map_err(|e| ApiError::Internal {
        cause: format!("plan task: {e}"),
    })??;
    let disposition = format!(
        "inline; filename=\"plano-{id}-{}.{}\"",
        lang.as_str(),
        format.ext()
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, format.media().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        bytes.as_ref().clone(),
    )
        .into_response())
}
