//! ECMWF tropical-cyclone track BUFR (WMO FM 94 BUFR edition 4, ECMWF's TC-tracks
//! template: storm identifier, member number, then per time period the storm centre, its
//! mean-sea-level pressure, the position and speed of the maximum 10 m wind, and the
//! radii of winds above 18, 26 and 33 m/s per quadrant) parsed into an
//! [`EnsembleForecast`]: one [`Forecast`] per member (deterministic run, control and
//! perturbed members alike).
//!
//! Decoding is ecCodes' ([`super::eccodes`]); this module only reads keys by name and
//! turns them into domain types, after `framing` has checked each message's section
//! lengths (ecCodes 2.28 trusts them). Pure: bytes in, domain out; no file or network I/O, no
//! tokio, HTTP or GDAL.
//!
//! Layout this reader expects (checked, not assumed; checked against `bufr_dump -p` of the
//! HEROLD 2020-03-19 12Z files in ../shared/data/forecast-samples): the key ranks `#n#`
//! advance per time period. Step 0 (the analysis) has rank 1 = observed centre
//! (meteorologicalAttributeSignificance 1), rank 2 = the member's analysed centre
//! (significance 4 "perturbed analysis" or 5 "analysis"), rank 3 = location of the maximum
//! wind (significance 3); step `s` >= 1 (`#s#timePeriod` hours) has rank `2s+2` = centre
//! (significance 1) and `2s+3` = maximum-wind location. Pressure and wind are rank `s+1`;
//! thresholds come `k` per step, each with four radii (`bearingOrAzimuth` pairs).
//!
//! Messages and subsets are numbered from 1 in errors, as `bufr_dump` and `bufr_ls` count.

use chrono::{DateTime, Duration, TimeZone, Utc};
use geo::{Distance, Haversine, Point};

mod framing;
mod values;

use super::eccodes::{BufrReader, CodesError, MISSING_DOUBLE, Message};
use super::{escaped_prefix, sort_and_dedupe};
use crate::domain::{
    EnsembleForecast, FixKind, Forecast, ForecastSource, Hectopascals, Knots, Member, MemberRole,
    NauticalMiles, StormId, TrackPoint, WindAveraging, units::METRES_PER_NM,
};
use values::{Column, RadiiColumns, Step, kt_from_ms, missing, normalise_lon, storm_id};

/// ECMWF's originating-centre code (WMO Common Code Table C-1: 98 = ECMWF). The key layout
/// read here is ECMWF's template; another centre's TC BUFR is refused rather than misread.
pub const ECMWF_CENTRE: i64 = 98;

/// The wind thresholds wind radii are usually given at (kt): 34, 50 and 64 kt (WMO/JTWC
/// convention; ../shared/DOMAIN.md). ECMWF encodes its thresholds as 18, 26 and 33 m/s,
/// which are 34.99, 50.54 and 64.15 kt (1 kt = 1852/3600 m/s, [`crate::domain::units::MS_PER_KT`]): the m/s
/// roundings of 34/50/64 kt. A threshold within [`NOMINAL_THRESHOLD_TOLERANCE_KT`] of one of
/// these is stored under the nominal value so the hazard side finds it; the radius is then
/// that of a wind up to 1 kt stronger, a slight underestimate (noted per file).
pub const NOMINAL_THRESHOLDS_KT: [f64; 3] = [34.0, 50.0, 64.0];

/// How far (kt) a converted ECMWF threshold may be from a nominal one (see
/// [`NOMINAL_THRESHOLDS_KT`]); 26 m/s is 0.54 kt above 50 kt.
pub const NOMINAL_THRESHOLD_TOLERANCE_KT: f64 = 1.0;

/// Averaging of ECMWF's `windSpeedAt10M`: the maximum 10 m wind of the model fields near the
/// centre, neither an observed 1-minute nor a 10-minute mean. A model grid value is a
/// grid-box and time-step average (tens of km, minutes), so it is closest to a 10-minute
/// mean (and, if anything, below one: the model under-resolves the peak wind). aviso
/// therefore treats it as 10-minute and applies no 1-min -> 10-min reduction, which would
/// lower an already low wind further.
pub const ECMWF_WIND_AVERAGING: WindAveraging = WindAveraging::TenMinute;

/// Pascals in one hectopascal (SI).
const PA_PER_HPA: f64 = 100.0;

/// Everything that can go wrong reading an ECMWF TC-track BUFR. Each variant names the
/// origin (file path or URL) and the message, and the subset/member where one is at fault.
/// Serde: the decoder child process ([`super::bufr_child`]) hands it to its parent as JSON, so
/// an isolated decode fails with exactly the error an in-process one gives.
#[derive(Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum BufrError {
    #[error(
        "{origin}: no BUFR message found: expected an ECMWF tropical-cyclone track BUFR \
         file (starting with \"BUFR\"); the input starts with \"{found}\""
    )]
    NoMessage { origin: String, found: String },

    #[error(
        "{origin}: BUFR message {message}: cannot be decoded ({source}); the file may be \
         truncated or damaged"
    )]
    Codes {
        origin: String,
        message: usize,
        source: CodesError,
    },

    #[error(
        "{origin}: BUFR message {message}: from originating centre {centre}, expected ECMWF \
         ({ECMWF_CENTRE}); only ECMWF's tropical-cyclone track template is read"
    )]
    WrongCentre {
        origin: String,
        message: usize,
        centre: i64,
    },

    #[error(
        "{origin}: BUFR message {message}: no key {key}: expected ECMWF tropical-cyclone \
         track descriptors (storm identifier, ensemble member, centre per time period)"
    )]
    MissingKey {
        origin: String,
        message: usize,
        key: String,
    },

    #[error("{origin}: BUFR message {message}: {what}")]
    Layout {
        origin: String,
        message: usize,
        what: String,
    },

    #[error("{origin}: BUFR message {message}, subset {subset} (member {member}): {what}")]
    Subset {
        origin: String,
        message: usize,
        subset: usize,
        member: String,
        what: String,
    },
}

/// A parsed ensemble with notes on what the parser decided (gaps, threshold mapping).
/// Serde: what the decoder child process ([`super::bufr_child`]) writes on its stdout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParsedEnsemble {
    pub ensemble: EnsembleForecast,
    pub notes: Vec<String>,
}

/// Whether the bytes look like BUFR (edition-independent: every BUFR message starts with
/// the four ASCII bytes "BUFR", WMO FM 94 section 0).
pub fn looks_like_bufr(bytes: &[u8]) -> bool {
    bytes.starts_with(b"BUFR")
}

/// Reads every member of every message. All messages must be the same storm and reference
/// time; member numbers must be unique.
pub fn parse(bytes: &[u8], origin: &str) -> Result<ParsedEnsemble, BufrError> {
    let no_message = || BufrError::NoMessage {
        origin: origin.to_string(),
        found: if bytes.is_empty() {
            "(nothing: the input is empty)".into()
        } else {
            escaped_prefix(bytes, 40)
        },
    };
    // ecCodes trusts the section lengths; damaged ones are refused before it sees them.
    if let Err((message, what)) = framing::frames(bytes) {
        return Err(BufrError::Layout {
            origin: origin.to_string(),
            message,
            what,
        });
    }
    let mut reader = BufrReader::new(bytes).map_err(|_| no_message())?;
    let mut members: Vec<Member> = Vec::new();
    let mut head: Option<(StormId, DateTime<Utc>)> = None;
    let mut notes = Vec::new();
    let mut index = 0usize;
    while let Some(next) = reader.next_message() {
        index += 1;
        let codes = |source| BufrError::Codes {
            origin: origin.to_string(),
            message: index,
            source,
        };
        let mut msg = next.map_err(codes)?;
        let mut ctx = Ctx {
            origin,
            index,
            msg: &mut msg,
        };
        let read = ctx.read_message()?;
        match &head {
            None => head = Some((read.storm.clone(), read.reference_time)),
            Some((storm, t0)) if storm.id != read.storm.id || *t0 != read.reference_time => {
                return Err(ctx.layout(format!(
                    "storm {} at {}, but message 1 is storm {} at {}: one storm and one \
                     reference time per file",
                    read.storm.id, read.reference_time, storm.id, t0
                )));
            }
            Some(_) => {}
        }
        for m in read.members {
            if members.iter().any(|o| o.number == m.number) {
                return Err(ctx.layout(format!("member {} appears twice", m.number)));
            }
            members.push(m);
        }
        notes.extend(read.notes);
    }
    // A file that starts with "BUFR" but yields no message is a damaged first message.
    let Some((storm, reference_time)) = head else {
        if looks_like_bufr(bytes) {
            return Err(BufrError::Layout {
                origin: origin.to_string(),
                message: 1,
                what: "starts with \"BUFR\" but ecCodes finds no complete message; the file \
                       may be truncated or damaged"
                    .into(),
            });
        }
        return Err(no_message());
    };
    members.sort_by_key(|m| m.number);
    Ok(ParsedEnsemble {
        ensemble: EnsembleForecast {
            storm,
            reference_time,
            origin: origin.to_string(),
            members,
        },
        notes,
    })
}

/// What one message holds.
struct MessageRead {
    storm: StormId,
    reference_time: DateTime<Utc>,
    members: Vec<Member>,
    notes: Vec<String>,
}

struct Ctx<'m, 'r> {
    origin: &'m str,
    index: usize,
    msg: &'m mut Message<'r>,
}

impl Ctx<'_, '_> {
    fn layout(&self, what: String) -> BufrError {
        BufrError::Layout {
            origin: self.origin.to_string(),
            message: self.index,
            what,
        }
    }
    fn codes(&self, source: CodesError) -> BufrError {
        BufrError::Codes {
            origin: self.origin.to_string(),
            message: self.index,
            source,
        }
    }
    fn missing_key(&self, key: &str) -> BufrError {
        BufrError::MissingKey {
            origin: self.origin.to_string(),
            message: self.index,
            key: key.to_string(),
        }
    }

    /// A key's value per subset (`None` when absent): ecCodes gives one value per subset of
    /// a compressed message, or one value when all subsets share it.
    fn column(&self, key: &str, n: usize) -> Result<Option<Column>, BufrError> {
        let Some(v) = self.msg.doubles(key).map_err(|e| self.codes(e))? else {
            return Ok(None);
        };
        match v.len() {
            1 => Ok(Some(vec![v[0]; n])),
            len if len == n => Ok(Some(v)),
            len => Err(self.layout(format!("key {key} has {len} values for {n} subsets"))),
        }
    }
    fn required(&self, key: &str, n: usize) -> Result<Column, BufrError> {
        self.column(key, n)?.ok_or_else(|| self.missing_key(key))
    }
    /// The one value all subsets share (a reference-time field).
    fn shared(&self, key: &str) -> Result<i64, BufrError> {
        let v = self
            .msg
            .doubles(key)
            .map_err(|e| self.codes(e))?
            .ok_or_else(|| self.missing_key(key))?;
        match v.first() {
            Some(&x) if missing(x) => Err(self.layout(format!("{key} is missing"))),
            Some(&x) if v.iter().all(|&y| y == x) => Ok(x.round() as i64),
            Some(_) => Err(self.layout(format!("{key} differs between subsets"))),
            None => Err(self.missing_key(key)),
        }
    }

    fn read_message(&mut self) -> Result<MessageRead, BufrError> {
        let centre = self
            .msg
            .long("bufrHeaderCentre")
            .map_err(|e| self.codes(e))?
            .ok_or_else(|| self.missing_key("bufrHeaderCentre"))?;
        if centre != ECMWF_CENTRE {
            return Err(BufrError::WrongCentre {
                origin: self.origin.to_string(),
                message: self.index,
                centre,
            });
        }
        self.msg.unpack().map_err(|e| self.codes(e))?;
        let long = |k: &str| -> Result<i64, BufrError> {
            self.msg
                .long(k)
                .map_err(|e| self.codes(e))?
                .ok_or_else(|| self.missing_key(k))
        };
        let n = usize::try_from(long("numberOfSubsets")?).unwrap_or(0);
        if n == 0 {
            return Err(self.layout("no subsets".into()));
        }
        if n > 1 && long("compressedData")? == 0 {
            // ECMWF sends its ensemble as one compressed message; in an uncompressed message
            // ranks run on across subsets, which this reader does not follow.
            return Err(self.layout(format!(
                "{n} uncompressed subsets: expected one subset or a compressed message"
            )));
        }
        let storm = self.storm()?;
        let reference_time = self.reference_time()?;
        let numbers = self.required("ensembleMemberNumber", n)?;
        let types = self
            .column("ensembleForecastType", n)?
            .unwrap_or_else(|| vec![MISSING_DOUBLE; n]);
        let steps = self.steps(n)?;
        let mut notes = Vec::new();
        let mut members = Vec::with_capacity(n);
        for (j, (&number, &kind)) in numbers.iter().zip(&types).enumerate() {
            let subset = j + 1;
            let number = if missing(number) || number < 0.0 || number > f64::from(u32::MAX) {
                return Err(BufrError::Subset {
                    origin: self.origin.to_string(),
                    message: self.index,
                    subset,
                    member: "?".into(),
                    what: format!("ensembleMemberNumber is {number}, expected a member number"),
                });
            } else {
                number.round() as u32
            };
            // BUFR code table 001092: 0 high-resolution control, 1 control, else perturbed
            // (ECMWF leaves it missing for perturbed members).
            let role = match kind.round() as i64 {
                _ if missing(kind) => MemberRole::Perturbed,
                0 => MemberRole::Deterministic,
                1 => MemberRole::Control,
                _ => MemberRole::Perturbed,
            };
            let (track, gaps) = self.track(&steps, j, subset, number, reference_time)?;
            if !gaps.is_empty() && !track.is_empty() {
                notes.push(format!(
                    "member {number}: no centre at +{} h; the track goes on from the next \
                     step with a centre",
                    gaps.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", +")
                ));
            }
            if track.is_empty() {
                notes.push(format!(
                    "member {number}: the storm is not found at any step (empty track)"
                ));
            }
            members.push(Member {
                number,
                role,
                forecast: Forecast {
                    source: ForecastSource::EcmwfEnsemble {
                        member: number,
                        role,
                    },
                    origin: self.origin.to_string(),
                    storm: storm.clone(),
                    issued: reference_time,
                    reference_time,
                    wind_averaging: ECMWF_WIND_AVERAGING,
                    track,
                    cone: None,
                },
            });
        }
        if steps.iter().any(|s| s.radii.iter().any(|r| r.nominal)) {
            notes.push(
                "ECMWF wind radii at 18/26/33 m/s (34.99/50.54/64.15 kt) are used as the \
                 34/50/64 kt radii (a slight underestimate)"
                    .into(),
            );
        }
        Ok(MessageRead {
            storm,
            reference_time,
            members,
            notes,
        })
    }

    fn storm(&self) -> Result<StormId, BufrError> {
        let ident = self
            .msg
            .string("stormIdentifier")
            .map_err(|e| self.codes(e))?
            .ok_or_else(|| self.missing_key("stormIdentifier"))?;
        let ident = ident.trim().to_ascii_uppercase();
        let name = self
            .msg
            .string("longStormName")
            .map_err(|e| self.codes(e))?
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "UNNAMED".into());
        let year = self.shared("#1#year")?;
        let month = self.shared("#1#month")?;
        Ok(storm_id(&ident, name, year, month))
    }

    fn reference_time(&self) -> Result<DateTime<Utc>, BufrError> {
        let f = |k: &str| self.shared(k);
        let (y, mo, d, h, mi) = (
            f("#1#year")?,
            f("#1#month")?,
            f("#1#day")?,
            f("#1#hour")?,
            f("#1#minute")?,
        );
        let t = i32::try_from(y).ok().and_then(|y| {
            Utc.with_ymd_and_hms(
                y,
                u32::try_from(mo).ok()?,
                u32::try_from(d).ok()?,
                u32::try_from(h).ok()?,
                u32::try_from(mi).ok()?,
                0,
            )
            .single()
        });
        t.ok_or_else(|| {
            self.layout(format!(
                "reference time {y:04}-{mo:02}-{d:02} {h:02}:{mi:02} is not a valid date"
            ))
        })
    }

    /// Every time period's columns, step 0 (the analysis) first.
    fn steps(&self, n: usize) -> Result<Vec<Step>, BufrError> {
        let mut periods = 0usize;
        while self
            .msg
            .size(&format!("#{}#timePeriod", periods + 1))
            .map_err(|e| self.codes(e))?
            .is_some()
        {
            periods += 1;
        }
        let mut thresholds = 0usize;
        while self
            .msg
            .size(&format!("#{}#windSpeedThreshold", thresholds + 1))
            .map_err(|e| self.codes(e))?
            .is_some()
        {
            thresholds += 1;
        }
        if thresholds % (periods + 1) != 0 {
            return Err(self.layout(format!(
                "{thresholds} wind-radius thresholds for {} time steps: expected the same \
                 number at every step",
                periods + 1
            )));
        }
        let per_step = thresholds / (periods + 1);
        let mut steps = Vec::with_capacity(periods + 1);
        for s in 0..=periods {
            let (centre, wind_at) = if s == 0 {
                (2, 3)
            } else {
                (2 * s + 2, 2 * s + 3)
            };
            let sig_ok: &[i64] = if s == 0 { &[4, 5] } else { &[1] };
            let sig =
                self.required(&format!("#{centre}#meteorologicalAttributeSignificance"), n)?;
            if let Some(bad) = sig
                .iter()
                .find(|&&v| !missing(v) && !sig_ok.contains(&(v.round() as i64)))
            {
                return Err(self.layout(format!(
                    "#{centre}#meteorologicalAttributeSignificance is {bad} at step {s}, \
                     expected {sig_ok:?} (storm centre): not ECMWF's TC-track template"
                )));
            }
            let hours = if s == 0 {
                vec![0.0; n]
            } else {
                self.required(&format!("#{s}#timePeriod"), n)?
            };
            let mut radii = Vec::with_capacity(per_step);
            for t in 0..per_step {
                let r = s * per_step + t; // 0-based threshold rank
                let bearings: Vec<Column> = (1..=8)
                    .map(|b| self.required(&format!("#{}#bearingOrAzimuth", 8 * r + b), n))
                    .collect::<Result<_, _>>()?;
                let radius: Vec<Column> = (1..=4)
                    .map(|q| {
                        self.required(
                            &format!(
                                "#{}#effectiveRadiusWithRespectToWindSpeedsAboveThreshold",
                                4 * r + q
                            ),
                            n,
                        )
                    })
                    .collect::<Result<_, _>>()?;
                let threshold_ms = self.required(&format!("#{}#windSpeedThreshold", r + 1), n)?;
                radii.push(RadiiColumns::new(threshold_ms, bearings, radius));
            }
            steps.push(Step {
                hours,
                lat: self.required(&format!("#{centre}#latitude"), n)?,
                lon: self.required(&format!("#{centre}#longitude"), n)?,
                wind_lat: self.column(&format!("#{wind_at}#latitude"), n)?,
                wind_lon: self.column(&format!("#{wind_at}#longitude"), n)?,
                pressure_pa: self
                    .column(&format!("#{}#pressureReducedToMeanSeaLevel", s + 1), n)?,
                wind_ms: self.column(&format!("#{}#windSpeedAt10M", s + 1), n)?,
                radii,
            });
        }
        Ok(steps)
    }

    /// One member's track; also the lead times (h) where it has no centre.
    fn track(
        &self,
        steps: &[Step],
        j: usize,
        subset: usize,
        number: u32,
        t0: DateTime<Utc>,
    ) -> Result<(Vec<TrackPoint>, Vec<i64>), BufrError> {
        let bad = |what: String| BufrError::Subset {
            origin: self.origin.to_string(),
            message: self.index,
            subset,
            member: number.to_string(),
            what,
        };
        let mut points = Vec::with_capacity(steps.len());
        let mut gaps = Vec::new();
        for step in steps {
            let at = |c: &Column| c.get(j).copied().filter(|v| !missing(*v));
            let Some(hours) = at(&step.hours) else {
                continue;
            };
            let (Some(lat), Some(lon)) = (at(&step.lat), at(&step.lon)) else {
                // The tracker did not find the storm at this step in this member: no point
                // (never a NaN one). Later steps may have it again.
                gaps.push(hours.round() as i64);
                continue;
            };
            let lon = normalise_lon(lon);
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(bad(format!(
                    "centre at +{hours} h is lon {lon}, lat {lat}: outside EPSG:4326 range"
                )));
            }
            let time = t0 + Duration::minutes((hours * 60.0).round() as i64);
            let mut p = TrackPoint::new(time, lon, lat, FixKind::Forecast);
            p.min_pressure_hpa = step
                .pressure_pa
                .as_ref()
                .and_then(at)
                .map(|pa| Hectopascals(pa / PA_PER_HPA));
            p.max_wind_kt = step
                .wind_ms
                .as_ref()
                .and_then(at)
                .map(|ms| Knots(kt_from_ms(ms)));
            // Distance from the centre to the maximum wind: the radius of maximum wind.
            if let (Some(wlat), Some(wlon)) = (
                step.wind_lat.as_ref().and_then(at),
                step.wind_lon.as_ref().and_then(at),
            ) {
                let d_m =
                    Haversine.distance(Point::new(lon, lat), Point::new(normalise_lon(wlon), wlat));
                p.rmw_nm = Some(NauticalMiles(d_m / METRES_PER_NM));
            }
            for r in &step.radii {
                if let Some(w) = r.at(j).map_err(&bad)? {
                    p.wind_radii.push(w);
                }
            }
            p.wind_radii
                .sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
            points.push(p);
        }
        let _ = sort_and_dedupe(&mut points);
        Ok((points, gaps))
    }
}
