//! The webhook's JSON summary of one version, as one subscriber sees it.

use serde_json::{Value, json};

use super::{MessageInput, MessageOptions, headline, instruction, links, marker};

/// The webhook's JSON summary of the version, as this subscriber sees it.
pub fn webhook_json(input: &MessageInput<'_>, opts: &MessageOptions) -> Value {
    let (alert, notice, lang) = (input.alert, input.notice, input.lang);
    let l = links(input, opts);
    let districts: Vec<Value> = notice
        .districts
        .iter()
        .filter_map(|p| alert.district(p))
        .map(|d| {
            json!({
                "pcode": d.pcode,
                "name": d.name,
                "province_pcode": d.province_pcode,
                "level": d.level,
                "people_at_risk": d.people_at_risk,
            })
        })
        .collect();
    let sites: Vec<Value> = notice
        .sites
        .iter()
        .filter_map(|(layer, id)| {
            alert
                .sites
                .iter()
                .find(|s| &s.layer == layer && &s.id == id)
        })
        .map(|s| {
            json!({
                "layer": s.layer, "id": s.id, "name": s.name,
                "district_pcode": s.district_pcode, "people": s.people,
            })
        })
        .collect();
    json!({
        "event_id": alert.event_id,
        "version": alert.version,
        "identifier": alert.identifier,
        "msg_type": alert.msg_type.as_str(),
        "status": alert.status.as_str(),
        "hazard": alert.hazard,
        "event_name": alert.event_name,
        "sent": alert.sent.to_rfc3339(),
        "next_update": alert.next_update.map(|t| t.to_rfc3339()),
        "notice": notice.kind,
        "level": notice.level,
        "previous_level": notice.previous,
        "headline": format!("{}{}", marker(alert, lang), headline(alert, notice, lang)),
        "instruction": instruction(alert.hazard, notice, lang),
        "language": lang.as_str(),
        "districts": districts,
        "sites": sites,
        "links": { "map": l.map, "geojson": l.geojson, "cap": l.cap },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::versioning::CapStatus;
    use crate::notify::message::tests::{alert, input, notice};
    use crate::notify::subscriber::Lang;

    #[test]
    fn the_webhook_summary_carries_the_notice_and_links() {
        let (a, n) = (alert(CapStatus::Actual), notice());
        let v = webhook_json(&input(&a, &n, Lang::En), &MessageOptions::default());
        assert_eq!(v["notice"], "raised");
        assert_eq!(v["level"], "red");
        assert_eq!(v["previous_level"], "orange");
        assert_eq!(v["districts"][0]["pcode"], "MZ0906");
        assert_eq!(
            v["links"]["cap"],
            "http://127.0.0.1:8080/api/alerts/aviso-swi-07-20222023-3/cap"
        );
    }
}
