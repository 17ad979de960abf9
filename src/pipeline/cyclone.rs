//! A cyclone issuance through the service: parse the stored body (RSMC JSON, ATCF, an
//! ECMWF BUFR's headline member), refuse a stale forecast, assess, decide the version, run
//! the probabilistic assessment within its bounded wait, and commit the version with its
//! messages; and what subscribers and the store keep of it.

use super::*;

impl Pipeline {
    pub(super) fn process_issuance(
        &self,
        iss: &StoredIssuance,
    ) -> Result<Vec<String>, ProcessError> {
        let feed = self.feed_config(&iss.raw.feed).cloned();
        let kind = feed.as_ref().map(|f| f.kind);
        if kind == Some(FeedKind::Gdacs) {
            return self.process_gdacs(iss);
        }
        if matches!(kind, Some(FeedKind::FloodStations | FeedKind::FloodExtent)) {
            return self.process_flood(iss, None);
        }
        self.process_cyclone(iss, None)
    }

    /// A cyclone issuance; with `edit`, rebuilt as an editor's proposal (issue 13).
    pub(super) fn process_cyclone(
        &self,
        iss: &StoredIssuance,
        edit: Option<&EditCtx>,
    ) -> Result<Vec<String>, ProcessError> {
        let feed = self.feed_config(&iss.raw.feed).cloned();
        let kind = feed.as_ref().map(|f| f.kind);
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let (parsed, members) = self.parse_cyclone(iss, feed.as_ref(), &origin)?;
        let expected = match kind {
            Some(FeedKind::RsmcReunion) => Some(TrackFormat::RsmcJson),
            Some(FeedKind::Atcf) => Some(TrackFormat::Atcf),
            _ => None,
        };
        if let Some(want) = expected
            && parsed.format != want
        {
            return Err(ProcessError::Parse(format!(
                "{origin}: the feed is configured as {} but the body is {:?}",
                kind.map_or("?", FeedKind::as_str),
                parsed.format
            )));
        }
        let status = feed
            .as_ref()
            .and_then(|f| f.status)
            .unwrap_or(self.cfg.service.status);
        refuse_stale(
            &origin,
            status,
            parsed.forecast.reference_time,
            Utc::now(),
            self.cfg.service.max_forecast_age_h,
            "service.max_forecast_age_h",
        )?;
        let t = Instant::now();
        let mut a = assess(
            &parsed.forecast,
            &self.layers,
            self.cfg.assessment(),
            Utc::now(),
        )
        .map_err(|e| ProcessError::Assess(format!("{origin}: {e}")))?;
        a.input_notes = parsed.notes;
        self.metrics.observe_assessment(t.elapsed().as_secs_f64());

        let event_id = event_id_for(&a.forecast.storm, status);
        // The probabilities come first (a bounded wait), so that the levels can use them:
        // only for a version about to be published (newer than the published one, with
        // districts on the ladder: not a Cancel); a failure leaves the alert as it is.
        let prev = self.store.latest_version(&event_id)?;
        let newer = prev.as_ref().is_none_or(|p| {
            p.reference_time
                .is_none_or(|r| r < a.forecast.reference_time)
        });
        let previous = prev
            .as_ref()
            .map(late_levels::levels_of)
            .unwrap_or_default();
        type Late = Option<Arc<late_levels::LateLevels>>;
        let mut pending: Option<(Arc<probabilistic::Handoff>, Late)> = None;
        let prob = if newer && !a.levels.is_empty() {
            let late = self.cfg.levels.has_probability_rules().then(|| {
                Arc::new(late_levels::LateLevels {
                    assessment: Arc::new(a.clone()),
                    previous: previous.clone(),
                    event_id: event_id.clone(),
                    feed: iss.raw.feed.clone(),
                    issuance_id: iss.id,
                    status,
                })
            });
            let (prob, handoff) = self.prob.run_bounded(probabilistic::Job {
                forecast: a.forecast.clone(),
                body: iss.raw.bytes.clone(),
                bufr: kind == Some(FeedKind::EcmwfBufr),
                event_id: event_id.clone(),
                seed_event_id: versioning::event_id(&a.forecast.storm),
                late: late.clone(),
            });
            pending = handoff.map(|h| (h, late));
            prob
        } else {
            ProbabilisticOutcome::Off
        };
        match (&prob, &prev) {
            (ProbabilisticOutcome::Assessed { result, .. }, _) => {
                apply_probabilities(&mut a, &self.cfg.levels, result, &previous);
            }
            // Published before its probabilities: the levels probability rules gave the
            // previous version are kept until they come (`late_levels` decides then).
            (ProbabilisticOutcome::Pending, Some(p))
                if !p.msg_type.withdraws() && self.cfg.levels.has_probability_rules() =>
            {
                let held = self.probability_levels_of(&p.id);
                hold_while_pending(&mut a, &self.cfg.levels, &held);
            }
            _ => {}
        }
        // Manual overrides (issue 13) before anything is built from the levels.
        let applied = self.apply_overrides(&event_id, &mut a, edit)?;

        let mut record = assessment_record(&event_id, &a);
        if let (Some(n), Some(fig)) = (members, record.figures.as_object_mut()) {
            fig.insert("ensemble_members".into(), json!(n));
        }
        let what = format!(
            "{} forecast of {}",
            a.forecast.storm.name,
            a.forecast.reference_time.format("%Y-%m-%dT%H:%MZ")
        );
        let stored = self.publish_next(
            iss,
            record,
            publish::NextVersion {
                event_id: event_id.clone(),
                reference: a.forecast.reference_time,
                districts: versioning::districts_of(&a),
                status,
                what: &what,
            },
            edit,
            |v, prev| {
                // A Cancel has nothing to assess (and `prob` is Off for it).
                let prob = if v.msg_type.withdraws() {
                    &ProbabilisticOutcome::Off
                } else {
                    &prob
                };
                let alert = self.new_alert(
                    &a,
                    v,
                    prev,
                    (&iss.raw.feed, Some(iss.id)),
                    None,
                    prob,
                    &applied,
                )?;
                let mut published = published_alert(v, &a);
                published.instruction = applied.instruction.clone();
                Ok((alert, published))
            },
        );
        // Probabilities later than the wait: attached to the stored version, or a new
        // version when they change a level (`late_levels`).
        if let Some((handoff, late)) = pending {
            match stored.as_deref() {
                Ok([id, ..]) => {
                    if let Some(outcome) = handoff.committed(id) {
                        match late.as_deref() {
                            Some(late) => self.late_probabilities(id, &outcome, late),
                            None => self.prob.attach_late(id, &outcome, None),
                        }
                    }
                }
                _ => handoff.abandon(),
            }
        }
        stored
    }

    /// A cyclone issuance's forecast. An ECMWF BUFR feed is read as such (no sniffing):
    /// its headline member goes on through the cyclone path, and the member count is kept
    /// for the record.
    pub(super) fn parse_cyclone(
        &self,
        iss: &StoredIssuance,
        feed: Option<&FeedConfig>,
        origin: &str,
    ) -> Result<(feeds::ParsedForecast, Option<usize>), ProcessError> {
        let opts = ParseOptions {
            atcf_tech: feed.and_then(|f| f.tech.clone()),
            ..ParseOptions::default()
        };
        if feed.map(|f| f.kind) == Some(FeedKind::EcmwfBufr) {
            self.bufr
                .decode(&iss.raw.bytes, origin)
                .and_then(|e| feeds::bufr_headline(&e, origin))
                .map(|(p, n)| (p, Some(n)))
        } else {
            feeds::parse_with(&iss.raw.bytes, origin, &opts, self.bufr.as_ref()).map(|p| (p, None))
        }
        .map_err(|e| ProcessError::Parse(e.to_string()))
    }

    /// The stored version of a cyclone alert: summary, GeoJSON document (with the summary
    /// under "alert") and CAP, with the probabilistic part `prob` (document, certainty).
    #[allow(clippy::too_many_arguments)] // one call per hazard path; a struct would only rename them
    pub(super) fn new_alert(
        &self,
        a: &Assessment,
        v: &versioning::AlertVersion,
        prev: Option<&AlertSummary>,
        (feed, issuance_id): (&str, Option<i64>),
        reason: Option<crate::store::Reason>,
        prob: &ProbabilisticOutcome,
        applied: &Applied,
    ) -> Result<NewAlert, ProcessError> {
        let withdrawal_reason = reason.as_ref().map(|r| [r.pt.clone(), r.en.clone()]);
        let summary = publish::summary_of(
            v,
            publish::SummaryParts {
                hazard: HazardKind::TropicalCyclone,
                event_name: a.forecast.storm.name.clone(),
                reference_time: Some(a.forecast.reference_time),
                event_level: a.event_level,
                prev,
                feed,
                issuance_id,
                reason,
                incident: None,
            },
        );
        let opts = CapOptions {
            sender_name: self.cfg.service.sender_name.clone(),
            web: publish::web_link(&self.cfg.service.public_url, &summary.id),
            expires_after_h: self.cfg.service.cap_expires_after_h,
            certainty_probability: prob.result().and_then(|r| {
                Some(CertaintyProbability {
                    p: certainty_probability(r, v.districts.keys().map(String::as_str))?,
                    threshold_kt: CERTAINTY_THRESHOLD_KT,
                    window_h: *r.windows_h.last()?,
                })
            }),
            extra_instruction: applied.instruction.clone(),
            withdrawal_reason,
            ..CapOptions::default()
        };
        let cap = cap_document(a, v, &self.cfg.levels, &opts)
            .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let decimals = self.cfg.output.coordinate_decimals;
        let mut doc = alert_document(a, &self.layers.layers, decimals);
        attach_probabilistic(&mut doc, prob, decimals);
        applied.patch(&mut doc);
        publish::stored_alert(summary, doc, cap)
    }
}

/// What subscriber selection and the messages need of a version: its districts with the
/// people at risk at their widest threshold, the point features (sites, accommodation
/// centres, health facilities) in a forecast footprint, and the next issuance expected.
/// A Cancel carries none of them.
pub fn published_alert(v: &versioning::AlertVersion, a: &Assessment) -> PublishedAlert {
    let mut p = PublishedAlert::from_version(
        v,
        crate::notify::HazardKind::Cyclone,
        &a.forecast.storm.name,
    );
    if v.msg_type.withdraws() {
        return p;
    }
    for d in &mut p.districts {
        d.people_at_risk = a
            .exposure
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .and_then(|x| x.widest())
            // A district without a population figure (Maquival in the COD-PS) counts 0 by
            // method, not by estimate: its people are unknown, and no message says "about 0".
            .filter(|w| w.method != crate::exposure::PeopleMethod::NoPopulation)
            .map(|w| w.people_at_risk);
    }
    p.sites = a
        .exposure
        .points
        .iter()
        .map(|pt| SiteAtRisk {
            layer: pt.layer.clone(),
            id: pt.id.clone(),
            name: pt.name.clone(),
            district_pcode: pt.district_pcode.clone(),
            people: pt.population,
        })
        .collect();
    // The first issuance time after the version was sent (a late one is not "next").
    let step_s = ISSUANCE_INTERVAL_H * 3600;
    let next = a.forecast.reference_time + Duration::seconds(step_s);
    let behind_s = (v.sent - next).num_seconds();
    p.next_update = Some(if behind_s < 0 {
        next
    } else {
        next + Duration::seconds((behind_s / step_s + 1) * step_s)
    });
    p
}

fn assessment_record(event_id: &str, a: &Assessment) -> AssessmentRecord {
    AssessmentRecord {
        event_id: event_id.to_string(),
        event_name: a.forecast.storm.name.clone(),
        reference_time: Some(a.forecast.reference_time),
        max_level: a.event_level,
        districts_on_ladder: a.levels.len(),
        figures: json!({
            "trigger": format!("{:?}", a.trigger.state),
            "source": a.forecast.source.label(),
            "origin": a.forecast.origin,
        }),
    }
}
