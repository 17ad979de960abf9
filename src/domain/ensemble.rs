//! An ensemble cyclone forecast: one storm, one reference time, and its members, each a
//! whole [`Forecast`] (one realisation of the storm's future).
//!
//! Pure data, no I/O; parsed by `crate::feeds::ecmwf_bufr`, consumed by the hazard side
//! (one swath per member) and by the service (which publishes the [`EnsembleForecast::headline`]
//! member through the single-forecast path).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::forecast::{Forecast, StormId};

/// What a member is, from BUFR's "type of ensemble forecast" (WMO BUFR code table 001092:
/// 0 = unperturbed high-resolution control, 1 = unperturbed low-resolution control,
/// 2/3/4 = negatively/positively/otherwise perturbed; missing for ECMWF's perturbed members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// The high-resolution deterministic run (ECMWF HRES; member 52 in ECMWF's files).
    Deterministic,
    /// The ensemble's unperturbed control run (member 51 in ECMWF's files).
    Control,
    /// A perturbed ensemble member (1–50 in ECMWF's files).
    Perturbed,
}

impl MemberRole {
    pub fn label(self) -> &'static str {
        match self {
            MemberRole::Deterministic => "high-resolution deterministic",
            MemberRole::Control => "ensemble control",
            MemberRole::Perturbed => "perturbed ensemble member",
        }
    }
}

/// One member of an ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member number as the source gives it (ECMWF: 1–50 perturbed, 51 control, 52 HRES).
    pub number: u32,
    pub role: MemberRole,
    /// The member's track. It may be EMPTY: the model's tracker did not find the storm in
    /// this member at any step. Such a member still counts as a realisation (one where the
    /// storm is absent), so probabilities must keep it in the denominator.
    pub forecast: Forecast,
}

/// All members of one ensemble issuance for one storm, in member-number order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleForecast {
    pub storm: StormId,
    /// The analysis time every member starts from.
    pub reference_time: DateTime<Utc>,
    /// Where it was read from (file path or URL without secrets), for messages.
    pub origin: String,
    pub members: Vec<Member>,
}

impl EnsembleForecast {
    /// The members that are equally likely realisations of the ensemble: the control and the
    /// perturbed members. The high-resolution deterministic run is left out: it is a
    /// different model configuration, not one draw of the ensemble (ECMWF's own strike
    /// probabilities use the ENS members only).
    pub fn realisations(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.role != MemberRole::Deterministic)
    }

    /// The member with this number.
    pub fn member(&self, number: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.number == number)
    }

    /// The one member to show as "the" forecast: the deterministic run, else the control,
    /// else the lowest-numbered member; only members with a track. A real model trajectory
    /// keeps intensity and radii consistent along the track, which a mean of members would
    /// not (averaging positions of members with different lifetimes and smoothing the peak
    /// winds).
    pub fn headline(&self) -> Option<&Member> {
        let with_track = || self.members.iter().filter(|m| !m.forecast.track.is_empty());
        with_track()
            .find(|m| m.role == MemberRole::Deterministic)
            .or_else(|| with_track().find(|m| m.role == MemberRole::Control))
            .or_else(|| with_track().next())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{FixKind, ForecastSource, TrackPoint, WindAveraging};
    use chrono::TimeZone;

    fn member(number: u32, role: MemberRole, points: usize) -> Member {
        let t0 = Utc.with_ymd_and_hms(2020, 3, 19, 12, 0, 0).unwrap();
        Member {
            number,
            role,
            forecast: Forecast {
                source: ForecastSource::EcmwfEnsemble {
                    member: number,
                    role,
                },
                origin: "test".into(),
                storm: StormId {
                    name: "HEROLD".into(),
                    id: "22S/2020".into(),
                    basin: "SH".into(),
                    season: "2020".into(),
                },
                issued: t0,
                reference_time: t0,
                wind_averaging: WindAveraging::TenMinute,
                track: (0..points)
                    .map(|i| {
                        TrackPoint::new(
                            t0 + chrono::Duration::hours(6 * i as i64),
                            71.0 + i as f64,
                            -25.0,
                            FixKind::Forecast,
                        )
                    })
                    .collect(),
                cone: None,
            },
        }
    }

    fn ensemble(members: Vec<Member>) -> EnsembleForecast {
        EnsembleForecast {
            storm: members[0].forecast.storm.clone(),
            reference_time: members[0].forecast.reference_time,
            origin: "test".into(),
            members,
        }
    }

    #[test]
    fn headline_prefers_deterministic_then_control_with_a_track() {
        let e = ensemble(vec![
            member(1, MemberRole::Perturbed, 3),
            member(51, MemberRole::Control, 3),
            member(52, MemberRole::Deterministic, 0),
        ]);
        assert_eq!(
            e.headline().unwrap().number,
            51,
            "HRES without a track is skipped"
        );
        let e = ensemble(vec![
            member(1, MemberRole::Perturbed, 3),
            member(51, MemberRole::Control, 3),
            member(52, MemberRole::Deterministic, 2),
        ]);
        assert_eq!(e.headline().unwrap().number, 52);
        let e = ensemble(vec![member(7, MemberRole::Perturbed, 0)]);
        assert!(e.headline().is_none());
    }

    #[test]
    fn realisations_keep_empty_members_and_leave_out_the_deterministic_run() {
        let e = ensemble(vec![
            member(1, MemberRole::Perturbed, 0),
            member(2, MemberRole::Perturbed, 3),
            member(51, MemberRole::Control, 3),
            member(52, MemberRole::Deterministic, 3),
        ]);
        let numbers: Vec<u32> = e.realisations().map(|m| m.number).collect();
        assert_eq!(numbers, vec![1, 2, 51]);
    }
}
