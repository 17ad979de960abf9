//! ECMWF tropical-cyclone track BUFR (HEROLD 2020-03-19 12Z, ../shared/data/forecast-samples)
//! read through ecCodes and checked against an independent decode by ecCodes' own
//! `bufr_dump -jf` (JSON), run by the test; damaged and foreign BUFR refused with errors that
//! name the file and the message/subset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aviso::domain::{EnsembleForecast, MemberRole};
use aviso::feeds::{self, ParseOptions, TrackFormat, ecmwf_bufr};
use serde_json::Value;

const EPS: &str = "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4";
const DET: &str = "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.det.bufr4";

/// An ecCodes command-line tool (Debian's libeccodes-tools), or `None` when it is absent and
/// AVISO_SKIP_MISSING=1 asks to skip (scripts/setup.sh test installs it).
fn tool(name: &str) -> Option<&str> {
    if Command::new(name).arg("-V").output().is_ok() {
        return Some(name);
    }
    common::skip_or_fail(&format!(
        "{name} not installed (scripts/setup.sh test installs libeccodes-tools)"
    ));
    None
}

fn read(rel: &str) -> Option<(PathBuf, Vec<u8>)> {
    let p = common::data_file(rel)?;
    let b = common::read_or_skip(p.to_str()?)?;
    Some((p, b))
}

fn decode(path: &Path, bytes: &[u8]) -> EnsembleForecast {
    ecmwf_bufr::parse(bytes, &path.display().to_string())
        .unwrap()
        .ensemble
}

/// One member's storm centres per lead time (h), as `bufr_dump -jf` decodes them.
#[derive(Debug, Default)]
struct DumpMember {
    number: u32,
    /// (lead h, lon, lat, pressure Pa) for steps with a centre.
    centres: Vec<(i64, f64, f64, Option<f64>)>,
}

/// One wind radius as `bufr_dump` gives it: (lead h, threshold m/s, bearing the radius's
/// sector starts at, radius m).
type DumpRadius = (i64, f64, i64, i64);

/// What `bufr_dump -jf` gives besides the centres: every non-missing wind radius per subset,
/// and the 10 m winds (m/s) of all subsets.
#[derive(Debug, Default)]
struct DumpExtras {
    radii: Vec<Vec<DumpRadius>>,
    winds_ms: Vec<f64>,
}

/// `bufr_dump -jf` of the file, walked in descriptor order: the step changes at each
/// `timePeriod`; a centre is the latitude/longitude after a meteorologicalAttributeSignificance
/// of 4 or 5 (the member's analysis) at step 0 and of 1 (storm centre) later (BUFR code table
/// 008005); the pressure of a step is its pressureReducedToMeanSeaLevel.
fn bufr_dump_members(path: &Path) -> Option<(Vec<DumpMember>, DumpExtras)> {
    let exe = tool("bufr_dump")?;
    let out = Command::new(exe).arg("-jf").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = doc["messages"].as_array().unwrap();
    // -jf dumps the data section only: the member numbers give the subset count.
    let n = entries
        .iter()
        .find(|e| e["key"] == "ensembleMemberNumber")
        .map(|e| e["value"].as_array().map_or(1, Vec::len))
        .expect("ensembleMemberNumber in the dump");
    // Values per subset: a JSON array, or one value shared by all subsets.
    let per_subset = |v: &Value| -> Vec<Option<f64>> {
        match v {
            Value::Array(a) => a.iter().map(Value::as_f64).collect(),
            other => vec![other.as_f64(); n],
        }
    };
    let mut members: Vec<DumpMember> = (0..n).map(|_| DumpMember::default()).collect();
    let mut extras = DumpExtras {
        radii: vec![Vec::new(); n],
        ..DumpExtras::default()
    };
    // Per subset: the current threshold and the last two bearings (a radius follows its
    // sector's "from" and "to" bearings).
    let mut threshold: Vec<Option<f64>> = vec![None; n];
    let mut bearings: Vec<(Option<f64>, Option<f64>)> = vec![(None, None); n];
    let mut step = 0i64;
    let mut sig: Vec<Option<f64>> = vec![None; n];
    let mut lat: Vec<Option<f64>> = vec![None; n];
    let mut pending: Vec<Option<(i64, f64, f64)>> = vec![None; n];
    let flush = |members: &mut Vec<DumpMember>, pending: &mut Vec<Option<(i64, f64, f64)>>| {
        for (m, p) in members.iter_mut().zip(pending.iter_mut()) {
            if let Some((h, lon, la)) = p.take() {
                m.centres.push((h, lon, la, None));
            }
        }
    };
    for e in entries {
        let key = e["key"].as_str().unwrap_or_default();
        match key {
            "ensembleMemberNumber" => {
                for (m, v) in members.iter_mut().zip(per_subset(&e["value"])) {
                    m.number = v.unwrap() as u32;
                }
            }
            "timePeriod" => {
                flush(&mut members, &mut pending);
                step = e["value"].as_i64().unwrap();
            }
            "meteorologicalAttributeSignificance" => sig = per_subset(&e["value"]),
            "latitude" => lat = per_subset(&e["value"]),
            "longitude" => {
                let lon = per_subset(&e["value"]);
                for j in 0..n {
                    let s = sig[j].map(|s| s as i64);
                    let centre = if step == 0 {
                        matches!(s, Some(4 | 5))
                    } else {
                        s == Some(1)
                    };
                    if let (true, Some(la), Some(lo)) = (centre, lat[j], lon[j]) {
                        pending[j] = Some((step, lo, la));
                    }
                }
            }
            "pressureReducedToMeanSeaLevel" => {
                let p = per_subset(&e["value"]);
                for j in 0..n {
                    if let Some((h, lo, la)) = pending[j].take() {
                        members[j].centres.push((h, lo, la, p[j]));
                    }
                }
            }
            "windSpeedThreshold" => threshold = per_subset(&e["value"]),
            "bearingOrAzimuth" => {
                for (b, v) in bearings.iter_mut().zip(per_subset(&e["value"])) {
                    *b = (b.1, v);
                }
            }
            "effectiveRadiusWithRespectToWindSpeedsAboveThreshold" => {
                for (j, r) in per_subset(&e["value"]).into_iter().enumerate() {
                    if let (Some(r), Some(t), Some(from)) = (r, threshold[j], bearings[j].0) {
                        extras.radii[j].push((step, t, from as i64, r.round() as i64));
                    }
                }
            }
            "windSpeedAt10M" => {
                extras
                    .winds_ms
                    .extend(per_subset(&e["value"]).into_iter().flatten());
            }
            _ => {}
        }
    }
    flush(&mut members, &mut pending);
    Some((members, extras))
}

#[test]
fn every_ensemble_member_agrees_with_bufr_dump() {
    let Some((path, bytes)) = read(EPS) else {
        return;
    };
    let Some((dump, extras)) = bufr_dump_members(&path) else {
        return;
    };
    let e = decode(&path, &bytes);
    assert_eq!(e.members.len(), dump.len(), "member count");
    assert_eq!(
        e.members.len(),
        52,
        "50 perturbed + control + HRES (STACK.md §6)"
    );
    let mut points = 0;
    for (m, d) in e.members.iter().zip(&dump) {
        assert_eq!(m.number, d.number, "member numbers in order");
        let ours: Vec<(i64, f64, f64, Option<f64>)> = m
            .forecast
            .track
            .iter()
            .map(|p| {
                (
                    m.forecast.lead_time_h(p).round() as i64,
                    p.lon,
                    p.lat,
                    p.min_pressure_hpa.map(|h| h.0 * 100.0),
                )
            })
            .collect();
        assert_eq!(ours.len(), d.centres.len(), "member {}: steps", m.number);
        for (o, x) in ours.iter().zip(&d.centres) {
            assert_eq!(o.0, x.0, "member {}: lead time", m.number);
            assert!(
                (o.1 - x.1).abs() < 1e-9 && (o.2 - x.2).abs() < 1e-9,
                "member {} +{} h: ours {o:?}, bufr_dump {x:?}",
                m.number,
                o.0
            );
            match (o.3, x.3) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() < 1e-6, "member {}: {a} vs {b}", m.number)
                }
                (a, b) => assert_eq!(a, b, "member {} +{} h: pressure", m.number, o.0),
            }
            points += 1;
        }
        for p in &m.forecast.track {
            assert!(p.lat.is_finite() && p.lon.is_finite(), "no NaN points");
        }
    }
    assert!(points > 100, "{points} centres compared");
    assert!(
        extras.radii.iter().flatten().any(|r| r.3 > 0),
        "the file has non-zero radii"
    );
    same_radii_and_winds(&e, &extras);
}

/// Every member's wind radii are the dump's: same lead time, threshold (ours in kt, within
/// 1 m/s of the file's m/s), quadrant (from its bearings) and radius (nm back to m); and
/// the 10 m winds of all members are the dump's. No radius lost, invented, moved to another
/// quadrant or put on a step without a centre.
fn same_radii_and_winds(e: &EnsembleForecast, extras: &DumpExtras) {
    assert_eq!(e.members.len(), extras.radii.len());
    let order =
        |a: &DumpRadius, b: &DumpRadius| (a.0, a.2).cmp(&(b.0, b.2)).then(a.1.total_cmp(&b.1));
    for (m, theirs) in e.members.iter().zip(&extras.radii) {
        let f = &m.forecast;
        let mut ours: Vec<DumpRadius> = f
            .track
            .iter()
            .flat_map(|p| {
                let lead = f.lead_time_h(p).round() as i64;
                p.wind_radii.iter().flat_map(move |w| {
                    let r = w.radii;
                    let t = w.threshold_kt * 1852.0 / 3600.0;
                    [(0, r.ne_nm), (90, r.se_nm), (180, r.sw_nm), (270, r.nw_nm)]
                        .map(|(from, nm)| (lead, t, from, (nm * 1852.0).round() as i64))
                })
            })
            .collect();
        let mut theirs = theirs.clone();
        ours.sort_by(order);
        theirs.sort_by(order);
        assert_eq!(ours.len(), theirs.len(), "member {}: radii", m.number);
        for (o, t) in ours.iter().zip(&theirs) {
            assert!(
                o.0 == t.0 && o.2 == t.2 && o.3 == t.3 && (o.1 - t.1).abs() < 1.0,
                "member {}: ours {o:?}, bufr_dump {t:?}",
                m.number
            );
        }
    }
    let pts = || e.members.iter().flat_map(|m| m.forecast.track.iter());
    let mut ours: Vec<i64> = pts()
        .filter_map(|p| p.max_wind_kt)
        .map(|kt| (kt.0 * 1852.0 / 3600.0 * 10.0).round() as i64)
        .collect();
    let mut theirs: Vec<i64> = extras
        .winds_ms
        .iter()
        .map(|w| (w * 10.0).round() as i64)
        .collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs, "10 m winds (0.1 m/s)");
}

#[test]
fn members_have_ecmwf_roles_radii_at_34_50_64_kt_and_gaps_not_nan() {
    let Some((path, bytes)) = read(EPS) else {
        return;
    };
    let e = decode(&path, &bytes);
    assert_eq!(e.storm.name, "HEROLD");
    assert_eq!(
        e.storm.id, "22S/2020",
        "JTWC's 22S of the 2020 southern season"
    );
    assert_eq!(e.reference_time.to_rfc3339(), "2020-03-19T12:00:00+00:00");
    let role = |n: u32| e.member(n).unwrap().role;
    assert_eq!(role(52), MemberRole::Deterministic);
    assert_eq!(role(51), MemberRole::Control);
    assert!((1..=50).all(|n| role(n) == MemberRole::Perturbed));
    assert_eq!(e.realisations().count(), 51, "control + 50 perturbed");
    assert_eq!(e.headline().unwrap().number, 52);
    for m in &e.members {
        let times: Vec<_> = m.forecast.track.iter().map(|p| p.time).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "member {}", m.number);
        for p in &m.forecast.track {
            assert!((-180.0..=180.0).contains(&p.lon) && (-90.0..=0.0).contains(&p.lat));
            let kts: Vec<f64> = p.wind_radii.iter().map(|w| w.threshold_kt).collect();
            assert_eq!(kts, vec![34.0, 50.0, 64.0], "member {}", m.number);
            let hpa = p.min_pressure_hpa.unwrap().0;
            assert!((950.0..1030.0).contains(&hpa), "{hpa} hPa");
        }
    }
    // Member 4 has a centre at +18 h and +30 h but none at +24 h (bufr_dump -p shows
    // #10#latitude missing for subset 4): the gap is skipped, the track goes on.
    let leads: Vec<f64> = {
        let f = &e.member(4).unwrap().forecast;
        f.track.iter().map(|p| f.lead_time_h(p)).collect()
    };
    assert!(
        leads.contains(&18.0) && !leads.contains(&24.0) && leads.contains(&30.0),
        "{leads:?}"
    );
}

#[test]
fn deterministic_file_is_one_member_agreeing_with_bufr_dump() {
    let Some((path, bytes)) = read(DET) else {
        return;
    };
    let e = decode(&path, &bytes);
    assert_eq!(e.members.len(), 1);
    let m = &e.members[0];
    assert_eq!((m.number, m.role), (52, MemberRole::Deterministic));
    let Some((dump, extras)) = bufr_dump_members(&path) else {
        return;
    };
    assert_eq!(dump.len(), 1);
    let ours: Vec<(i64, f64, f64)> = m
        .forecast
        .track
        .iter()
        .map(|p| (m.forecast.lead_time_h(p).round() as i64, p.lon, p.lat))
        .collect();
    let theirs: Vec<(i64, f64, f64)> = dump[0].centres.iter().map(|c| (c.0, c.1, c.2)).collect();
    assert_eq!(ours, theirs);
    same_radii_and_winds(&e, &extras);
    // The same run in the ensemble file is the same track.
    if let Some((p2, b2)) = read(EPS) {
        let eps = decode(&p2, &b2);
        let hres = &eps.member(52).unwrap().forecast.track;
        for (a, b) in m.forecast.track.iter().zip(hres) {
            assert_eq!((a.time, a.lon, a.lat), (b.time, b.lon, b.lat));
        }
    }
}

#[test]
fn format_sniffing_reads_bufr_as_the_headline_member() {
    let Some((path, bytes)) = read(EPS) else {
        return;
    };
    assert_eq!(feeds::detect_format(&bytes), Some(TrackFormat::EcmwfBufr));
    let p = feeds::parse(
        &bytes,
        &path.display().to_string(),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(p.format, TrackFormat::EcmwfBufr);
    assert_eq!(
        p.forecast.source,
        aviso::domain::ForecastSource::EcmwfEnsemble {
            member: 52,
            role: MemberRole::Deterministic
        }
    );
    assert!(
        p.notes.iter().any(|n| n.contains("52 members")),
        "{:?}",
        p.notes
    );
}

// ---- damaged and foreign input ----

fn tmp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn parse_err(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let e = ecmwf_bufr::parse(&bytes, &path.display().to_string())
        .err()
        .unwrap_or_else(|| panic!("{} should be refused", path.display()))
        .to_string();
    eprintln!("{e}");
    // The same refusal through the format-sniffing entry point (`aviso assess`, the service).
    let via = feeds::parse(
        &bytes,
        &path.display().to_string(),
        &ParseOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    if ecmwf_bufr::looks_like_bufr(&bytes) {
        assert_eq!(e, via);
    }
    assert!(via.contains(&path.display().to_string()), "{via}");
    e
}

#[test]
fn a_truncated_file_is_refused_naming_the_file_and_message() {
    let Some((_, bytes)) = read(EPS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 3, 20] {
        let p = tmp_file(
            dir.path(),
            &format!("herold_cut_{cut}.bufr4"),
            &bytes[..cut],
        );
        let e = parse_err(&p);
        assert!(
            e.contains(&p.display().to_string()) && e.contains("BUFR message 1"),
            "{e}"
        );
        assert!(e.contains("truncated"), "{e}");
    }
    // "BUFR" and nothing decodable after it (e.g. a body cut by a proxy): still message 1.
    let mut stub = b"BUFR".to_vec();
    stub.extend_from_slice(&[0u8; 64]);
    let p = tmp_file(dir.path(), "bufr_stub.bufr4", &stub);
    let e = parse_err(&p);
    assert!(
        e.contains("BUFR message 1") && e.contains("truncated"),
        "{e}"
    );
    // A whole message followed by a cut one: the second is named.
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes[..bytes.len() / 2]);
    let p = tmp_file(dir.path(), "herold_plus_cut.bufr4", &two);
    let e = parse_err(&p);
    assert!(e.contains("BUFR message 2"), "{e}");
}

#[test]
fn bufr_from_another_centre_is_refused() {
    let Some((path, _)) = read(DET) else {
        return;
    };
    let Some(set) = tool("bufr_set") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("herold_from_centre_85.bufr4");
    // Météo-France's centre code (WMO Common Code Table C-1: 85), set by ecCodes itself.
    let st = Command::new(set)
        .args(["-s", "bufrHeaderCentre=85"])
        .arg(&path)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let e = parse_err(&out);
    assert!(
        e.contains(&out.display().to_string())
            && e.contains("BUFR message 1")
            && e.contains("centre 85"),
        "{e}"
    );
}

#[test]
fn bufr_without_tc_track_descriptors_is_refused_naming_the_message() {
    let Some((path, eps)) = read(EPS) else {
        return;
    };
    let Some(info) = tool("codes_info") else {
        return;
    };
    // ecCodes' own BUFR4 sample: an ECMWF-centre SYNOP template (descriptor 307080), no
    // storm identifier, no track.
    let out = Command::new(info).arg("-s").output().unwrap();
    let samples = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let synop = std::fs::read(samples.join("BUFR4_local.tmpl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = tmp_file(dir.path(), "synop.bufr4", &synop);
    let e = parse_err(&p);
    assert!(
        e.contains(&p.display().to_string())
            && e.contains("BUFR message 1")
            && e.contains("stormIdentifier"),
        "{e}"
    );
    // After a good message, the foreign one is message 2.
    let mut two = eps.clone();
    two.extend_from_slice(&synop);
    let p = tmp_file(dir.path(), "herold_then_synop.bufr4", &two);
    let e = parse_err(&p);
    assert!(
        e.contains("BUFR message 2") && e.contains("stormIdentifier"),
        "{e}"
    );
    let _ = path;
}

#[test]
fn radii_that_are_not_quadrants_are_refused_naming_the_subset() {
    let Some((path, _)) = read(EPS) else {
        return;
    };
    let Some(set) = tool("bufr_set") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("herold_bearing_45.bufr4");
    // The first radius now spans 45..90 degrees: no longer the NE quadrant.
    let st = Command::new(set)
        .args(["-s", "unpack=1,#1#bearingOrAzimuth=45,pack=1"])
        .arg(&path)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let e = parse_err(&out);
    assert!(
        e.contains(&out.display().to_string())
            && e.contains("BUFR message 1, subset 1 (member 1)")
            && e.contains("45"),
        "{e}"
    );
}

#[test]
fn a_non_bufr_body_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = tmp_file(
        dir.path(),
        "gateway.html",
        b"<html><body>502 Bad Gateway</body></html>",
    );
    let e = parse_err(&p);
    assert!(e.contains("no BUFR message") && e.contains("<html>"), "{e}");
    let p = tmp_file(dir.path(), "empty.bufr4", b"");
    let e = parse_err(&p);
    assert!(e.contains("no BUFR message"), "{e}");
}

#[test]
fn aviso_assess_reads_a_bufr_file_and_refuses_a_truncated_one() {
    let Some((path, bytes)) = read(EPS) else {
        return;
    };
    let run = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_aviso"))
            .args(["assess", "--forecast"])
            .arg(file)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let out = run(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let meta = &doc["aviso"];
    assert_eq!(meta["storm"]["name"], "HEROLD");
    assert_eq!(meta["reference_time"], "2020-03-19T12:00:00+00:00");
    assert_eq!(meta["source"]["wind_averaging"], "ten_minute");
    let label = meta["source"]["label"].as_str().unwrap();
    assert!(
        label.contains("ECMWF") && label.contains("member 52"),
        "{label}"
    );
    // HEROLD stayed between 71° and 80° E: no Mozambican district at risk.
    let districts = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == "district")
        .count();
    assert_eq!(districts, 0);

    let dir = tempfile::tempdir().unwrap();
    let cut = tmp_file(dir.path(), "herold_cut.bufr4", &bytes[..bytes.len() / 2]);
    let out = run(&cut);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&cut.display().to_string()) && err.contains("BUFR message 1"),
        "{err}"
    );
}
