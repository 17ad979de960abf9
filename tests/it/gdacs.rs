//! GDACS GeoRSS discovery on the real December 2019 feed snapshot (CALVINIA-19 near
//! Mauritius) and on hand-made fixtures with one problem per item. Expected values for the
//! real feed are the literal text of its elements (quoted in comments), and the list of event
//! ids is read independently by plain string search.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aviso::feeds::gdacs::{
    Basin, Consequence, GdacsError, GdacsEvent, active_cyclones, parse_gdacs_rss,
};
use chrono::{TimeZone, Utc};

const SAMPLE: &str = "forecast-samples/gdacs_rss_feed_sample_2019-12_with_TC_CALVINIA-19.xml";

fn fixture(name: &str) -> (Vec<u8>, String) {
    let path = format!("{}/tests/fixtures/gdacs/{name}", env!("CARGO_MANIFEST_DIR"));
    (std::fs::read(&path).unwrap(), path)
}

fn sample() -> Option<(Vec<u8>, String)> {
    let path = common::data_file(SAMPLE)?;
    Some((std::fs::read(&path).unwrap(), path.display().to_string()))
}

/// The values of `<gdacs:eventid>` in document order, by string search (no XML parser).
fn event_ids_by_search(text: &str) -> Vec<u64> {
    text.split("<gdacs:eventid>")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap().trim().parse().unwrap())
        .collect()
}

fn by_id(events: &[GdacsEvent], id: u64) -> &GdacsEvent {
    events.iter().find(|e| e.event_id == id).unwrap()
}

#[test]
fn the_real_feed_yields_its_four_events_in_order_without_warnings() {
    let Some((bytes, origin)) = sample() else {
        return;
    };
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);
    let ids: Vec<u64> = feed.events.iter().map(|e| e.event_id).collect();
    let expected = event_ids_by_search(std::str::from_utf8(&bytes).unwrap());
    assert_eq!(expected.len(), 4);
    assert_eq!(ids, expected);
    let types: Vec<&str> = feed.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TC", "EQ", "DR", "DR"]);
}

#[test]
fn calvinia_is_read_field_by_field_from_the_real_feed() {
    let Some((bytes, origin)) = sample() else {
        return;
    };
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    let c = by_id(&feed.events, 1000643); // <gdacs:eventid>1000643</gdacs:eventid>
    assert_eq!(c.event_type, "TC");
    assert_eq!(c.episode_id, Some(1)); // <gdacs:episodeid>1</gdacs:episodeid>
    assert_eq!(c.event_name, "CALVINIA-19");
    assert_eq!(c.storm_name, "CALVINIA");
    assert_eq!(c.year, Some(2019));
    assert_eq!(c.alert_level.as_deref(), Some("Green"));
    assert!(c.is_current);
    // <gdacs:fromdate>Sun, 29 Dec 2019 12:00:00 GMT</gdacs:fromdate>, todate the same.
    let t = Utc.with_ymd_and_hms(2019, 12, 29, 12, 0, 0).unwrap();
    assert_eq!((c.from_date, c.to_date), (Some(t), Some(t)));
    // <geo:lat>-19.4</geo:lat> <geo:long>59.8</geo:long>: lon first in the struct's use.
    assert_eq!((c.lon, c.lat), (59.8, -19.4));
    // <gdacs:bbox>55.0780533046962 81.0780533046962 -46.7828750315965 -20.7828750315965
    // (lonmin lonmax latmin latmax) reordered to lon_min, lat_min, lon_max, lat_max.
    assert_eq!(
        c.bbox,
        Some([
            55.0780533046962,
            -46.7828750315965,
            81.0780533046962,
            -20.7828750315965
        ])
    );
    assert_eq!(c.countries, ["Mauritius"]);
    // <gdacs:severity unit="km/h" value="92.592">
    assert_eq!(c.severity_kmh, Some(92.592));
    // <link>http://www.gdacs.org/report.aspx?eventtype=TC&amp;eventid=1000643</link>
    assert_eq!(
        c.link.as_deref(),
        Some("http://www.gdacs.org/report.aspx?eventtype=TC&eventid=1000643")
    );
}

#[test]
fn other_events_of_the_real_feed_keep_their_own_shapes() {
    let Some((bytes, origin)) = sample() else {
        return;
    };
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    // The earthquake: <gdacs:eventname /> and a magnitude, not a wind speed.
    let eq = by_id(&feed.events, 1199929);
    assert_eq!((eq.event_name.as_str(), eq.storm_name.as_str()), ("", ""));
    assert_eq!(eq.severity_kmh, None);
    assert_eq!(eq.episode_id, Some(1287798));
    assert_eq!((eq.lon, eq.lat), (37.087, -44.5653));
    // The drought: <gdacs:country>Bulgaria, Iraq, Iran, Turkey</gdacs:country>.
    let dr = by_id(&feed.events, 1013682);
    assert_eq!(dr.countries, ["Bulgaria", "Iraq", "Iran", "Turkey"]);
    assert_eq!(dr.event_name, "Turkey-2019"); // " Turkey-2019" trimmed
}

#[test]
fn calvinia_is_the_one_active_cyclone_in_the_south_west_indian_ocean() {
    let Some((bytes, origin)) = sample() else {
        return;
    };
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    let active = active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN);
    let ids: Vec<u64> = active.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [1000643]);
}

#[test]
fn bad_items_are_skipped_with_a_warning_and_the_good_storms_survive() {
    let (bytes, origin) = fixture("bad_items.xml");
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    let ids: Vec<u64> = feed.events.iter().map(|e| e.event_id).collect();
    // Line numbers are those of each <item> (grep -n "<item>" on the fixture).
    // Items 1 (no id), 2 (lon 259.8), 3 (lat −119.4), 4 (no point), 9 (iscurrent "maybe") go.
    assert_eq!(ids, [9000001, 9000005, 9000006, 9000007, 9000008]);

    let skipped: Vec<String> = feed
        .warnings
        .iter()
        .filter(|w| {
            matches!(
                w,
                GdacsError::Item {
                    consequence: Consequence::ItemSkipped,
                    ..
                }
            )
        })
        .map(ToString::to_string)
        .collect();
    assert_eq!(skipped.len(), 5, "{skipped:#?}");
    let has = |needle: &str| skipped.iter().any(|w| w.contains(needle));
    assert!(
        has("item 1 (line 24), <gdacs:eventid>: expected an event id"),
        "{skipped:#?}"
    );
    assert!(
        has(
            "item 2 (line 31, eventid 9000002), <geo:long>: expected a longitude in −180..180, found 259.8"
        ),
        "{skipped:#?}"
    );
    assert!(
        has(
            "item 3 (line 39, eventid 9000003), <geo:lat>: expected a latitude in −90..90, found -119.4"
        ),
        "{skipped:#?}"
    );
    assert!(
        has("item 4 (line 46, eventid 9000004), <geo:Point>: expected a position"),
        "{skipped:#?}"
    );
    assert!(
        has("<gdacs:iscurrent>: expected true or false, found \"maybe\"; item skipped"),
        "{skipped:#?}"
    );
    assert!(skipped.iter().all(|w| w.starts_with(&origin)));
}

#[test]
fn a_malformed_optional_field_is_dropped_but_the_storm_is_kept() {
    let (bytes, origin) = fixture("bad_items.xml");
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    let yaku = by_id(&feed.events, 9000005);
    // Position from <georss:point>-12.0 52.5</georss:point> ("lat lon").
    assert_eq!((yaku.lon, yaku.lat), (52.5, -12.0));
    assert!(yaku.is_current, "\"TRUE\" counts as true");
    assert_eq!(
        (yaku.bbox, yaku.from_date, yaku.severity_kmh),
        (None, None, None)
    );
    let dropped: Vec<String> = feed
        .warnings
        .iter()
        .filter(|w| {
            matches!(
                w,
                GdacsError::Item {
                    consequence: Consequence::FieldIgnored,
                    ..
                }
            )
        })
        .map(ToString::to_string)
        .collect();
    assert_eq!(dropped.len(), 3, "{dropped:#?}");
    for element in ["<gdacs:fromdate>", "<gdacs:bbox>", "<gdacs:severity>"] {
        assert!(
            dropped.iter().any(|w| w.contains("eventid 9000005")
                && w.contains(element)
                && w.ends_with("field ignored")),
            "{element}: {dropped:#?}"
        );
    }

    let zito = by_id(&feed.events, 9000001);
    assert_eq!(zito.bbox, Some([36.2, -22.5, 46.2, -12.5]));
    assert_eq!(zito.countries, ["Mozambique", "Madagascar"]);
    assert_eq!(zito.severity_kmh, Some(148.16));
    assert_eq!(zito.storm_name, "ZITO");
}

#[test]
fn only_current_cyclones_inside_the_basin_are_active() {
    let (bytes, origin) = fixture("bad_items.xml");
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    let ids: Vec<u64> = active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN)
        .iter()
        .map(|e| e.event_id)
        .collect();
    // Not 9000006 (ended), 9000007 (118.5°E), 9000008 (a flood).
    assert_eq!(ids, [9000001, 9000005]);
}

#[test]
fn namespaces_are_matched_by_uri_not_by_prefix() {
    let (bytes, origin) = fixture("other_prefixes.xml");
    let feed = parse_gdacs_rss(&bytes, &origin).unwrap();
    assert_eq!(feed.events.len(), 1);
    let e = &feed.events[0];
    // <g:eventid>, not the later <gdacs:eventid> of a foreign namespace.
    assert_eq!(e.event_id, 9100001);
    assert_eq!((e.lon, e.lat), (43.5, -21.25));
    assert_eq!(e.event_name, "PREFIX-25"); // from CDATA
}

#[test]
fn a_feed_whose_items_are_all_unusable_fails_instead_of_reporting_no_storms() {
    let (bytes, origin) = fixture("all_items_bad.xml");
    let err = parse_gdacs_rss(&bytes, &origin).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, GdacsError::NoUsableItems { items: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.starts_with(&origin) && msg.contains("none of the 2 items"),
        "{msg}"
    );
    assert!(msg.contains("item 0 (line 6), <gdacs:eventid>"), "{msg}");
}

#[test]
fn malformed_xml_fails_with_the_line_of_the_problem() {
    let (bytes, origin) = fixture("mismatched_tag.xml");
    let err = parse_gdacs_rss(&bytes, &origin).unwrap_err();
    assert!(matches!(err, GdacsError::Xml { line: 6, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{origin}: line 6: malformed XML")),
        "{err}"
    );
}

#[test]
fn a_cut_off_document_fails_naming_the_open_element() {
    let (bytes, origin) = fixture("cut_off.xml");
    let err = parse_gdacs_rss(&bytes, &origin).unwrap_err().to_string();
    assert!(
        err.starts_with(&origin) && err.contains("document ends inside <item>"),
        "{err}"
    );
}

#[test]
fn an_html_error_page_is_not_taken_for_an_empty_feed() {
    let (bytes, origin) = fixture("html_error_page.xml");
    let err = parse_gdacs_rss(&bytes, &origin).unwrap_err();
    assert!(matches!(err, GdacsError::NotRss { .. }), "{err}");
    assert!(err.to_string().contains("found <html>"), "{err}");
}

#[test]
fn non_utf8_input_is_refused_with_its_offset() {
    let err = parse_gdacs_rss(b"<rss>\n\xff</rss>", "latin1.xml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("latin1.xml: line 2") && err.contains("offset 6"),
        "{err}"
    );
}

#[test]
fn an_empty_channel_is_a_valid_feed_with_no_events() {
    let feed = parse_gdacs_rss(b"<rss version=\"2.0\"><channel></channel></rss>", "empty").unwrap();
    assert!(feed.events.is_empty() && feed.warnings.is_empty());
}
