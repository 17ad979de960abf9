//! A subscriber as JSON, in and out: [`SubscriberInput`], what the admin API takes
//! (checked field by field, then against the loaded layers and this server's settings),
//! and [`subscriber_json`], what it answers with (personal data: admin routes only).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminError, NotifyApi};
use crate::notify::subscriber::{self, Area, Channel, ChannelKind, HazardKind, Lang, Subscriber};
use crate::store::notify::StoredSubscriber;

fn yes() -> bool {
    true
}

/// A subscriber as the admin API takes it: the CSV columns as JSON keys (lists as
/// arrays, the polygon as a GeoJSON Polygon or MultiPolygon geometry).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = subscriberInput)]
pub struct SubscriberInput {
    /// Required to create; on update it may be left out (it must match the path if given).
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub active: bool,
    /// "pt" (default) or "en".
    #[serde(default)]
    #[schema(example = "pt")]
    pub language: Option<String>,
    /// green, yellow (default), orange, red (or the Portuguese names).
    #[serde(default)]
    pub min_level: Option<String>,
    #[serde(default)]
    pub hazards: Vec<String>,
    #[serde(default)]
    pub receive_tests: bool,
    #[serde(default)]
    pub emails: Vec<String>,
    /// E.164, e.g. +258845550101.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    #[serde(default)]
    pub provinces: Vec<String>,
    #[serde(default)]
    pub districts: Vec<String>,
    /// "layer:id" of point features, e.g. "sites:DTM-123".
    #[serde(default)]
    pub features: Vec<String>,
    /// A GeoJSON Polygon or MultiPolygon (lon/lat).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub polygon: Option<Value>,
}

impl SubscriberInput {
    /// The subscriber, checked: every field, then the P-codes and features against the
    /// loaded layers.
    pub(super) fn into_subscriber(
        self,
        id: String,
        api: &NotifyApi,
    ) -> Result<Subscriber, AdminError> {
        let bad = |field: &str, message: String| AdminError::Invalid {
            subscriber: Some(id.clone()),
            line: None,
            field: Some(field.to_string()),
            message,
        };
        let mut s = Subscriber {
            id: id.clone(),
            name: self.name,
            active: self.active,
            receive_tests: self.receive_tests,
            ..Subscriber::default()
        };
        if let Some(l) = &self.language {
            s.language = Lang::parse(l)
                .ok_or_else(|| bad("language", format!("expected pt or en, found {l:?}")))?;
        }
        if let Some(l) = &self.min_level {
            s.min_level = subscriber::parse_level(l).ok_or_else(|| {
                bad(
                    "min_level",
                    format!("expected green, yellow, orange or red, found {l:?}"),
                )
            })?;
        }
        for (i, h) in self.hazards.iter().enumerate() {
            s.hazards.push(HazardKind::parse(h).ok_or_else(|| {
                bad(
                    &format!("hazards[{i}]"),
                    format!("expected cyclone or flood, found {h:?}"),
                )
            })?);
        }
        s.channels
            .extend(self.emails.into_iter().map(Channel::Email));
        s.channels.extend(self.phones.into_iter().map(Channel::Sms));
        s.channels
            .extend(self.webhooks.into_iter().map(Channel::Webhook));
        s.areas.extend(
            self.provinces
                .iter()
                .map(|p| Area::Province(p.trim().to_ascii_uppercase())),
        );
        s.areas.extend(
            self.districts
                .iter()
                .map(|p| Area::District(p.trim().to_ascii_uppercase())),
        );
        for (i, f) in self.features.iter().enumerate() {
            let (layer, fid) = f.split_once(':').ok_or_else(|| {
                bad(
                    &format!("features[{i}]"),
                    format!("expected layer:id, found {f:?}"),
                )
            })?;
            s.areas.push(Area::Feature {
                layer: layer.trim().into(),
                id: fid.trim().into(),
            });
        }
        if let Some(g) = self.polygon.filter(|g| !g.is_null()) {
            let polys =
                subscriber::parse_polygon_cell(&g.to_string()).map_err(|m| bad("polygon", m))?;
            s.areas.extend(polys.into_iter().map(Area::Polygon));
        }
        let s = s.validate(&api.known, None)?;
        api.check_features(&s, None)?;
        Ok(s)
    }
}

/// A stored subscriber as JSON (personal data: admin routes only).
pub fn subscriber_json(s: &StoredSubscriber, optouts: &BTreeSet<String>) -> Value {
    let sub = &s.subscriber;
    let addrs = |k: ChannelKind| -> Vec<&str> {
        sub.channels
            .iter()
            .filter(|c| c.kind() == k)
            .map(Channel::address)
            .collect()
    };
    let mut provinces = Vec::new();
    let mut districts = Vec::new();
    let mut features = Vec::new();
    let mut polys = Vec::new();
    for a in &sub.areas {
        match a {
            Area::Province(p) => provinces.push(p.clone()),
            Area::District(p) => districts.push(p.clone()),
            Area::Feature { layer, id } => features.push(format!("{layer}:{id}")),
            Area::Polygon(p) => polys.push(p),
        }
    }
    let polygon = if polys.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&subscriber::polygon_cell(&polys)).unwrap_or(Value::Null)
    };
    let phones = addrs(ChannelKind::Sms);
    let stopped: Vec<&str> = phones
        .iter()
        .copied()
        .filter(|p| optouts.contains(*p))
        .collect();
    json!({
        "id": sub.id,
        "name": sub.name,
        "active": sub.active,
        "language": sub.language.as_str(),
        "min_level": sub.min_level.name_en(),
        "hazards": sub.hazards.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "receive_tests": sub.receive_tests,
        "emails": addrs(ChannelKind::Email),
        "phones": phones,
        "webhooks": addrs(ChannelKind::Webhook),
        "provinces": provinces,
        "districts": districts,
        "features": features,
        "polygon": polygon,
        "sms_opted_out": stopped,
        "opted_out_at": s.opted_out_at,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

pub(super) fn parse_input(body: &[u8]) -> Result<SubscriberInput, AdminError> {
    serde_json::from_slice(body).map_err(|e| {
        AdminError::BadRequest(format!(
            "expected a JSON subscriber (id, name, emails, phones, webhooks, provinces, districts, features, polygon, language, min_level, hazards, receive_tests, active), found: {e}"
        ))
    })
}
