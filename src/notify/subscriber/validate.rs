//! The checks of a subscriber as an operator entered it (admin API or CSV import): the id,
//! each address (E.164 numbers, e-mail, webhook URLs), areas against the known P-codes,
//! polygons in EPSG:4326. Errors name the subscriber, the CSV line and the field, never
//! the personal data itself.

use std::collections::BTreeSet;

use geo::{BoundingRect, Polygon, Validation};

use super::{Area, ChannelKind, KnownPcodes, LIST_SEP, Subscriber, SubscriberError};

impl Subscriber {
    /// Checks every field and normalises the addresses. `line` is the CSV line the
    /// subscriber came from, named in errors.
    pub fn validate(
        mut self,
        known: &KnownPcodes,
        line: Option<u64>,
    ) -> Result<Subscriber, SubscriberError> {
        let sid = self.id.clone();
        let err = |field: &str, expected: &str, found: String| SubscriberError::Invalid {
            subscriber: sid.clone(),
            line,
            field: field.to_string(),
            expected: expected.to_string(),
            found,
        };
        if !valid_id(&self.id) {
            return Err(err(
                "id",
                "1 to 64 characters of A-Z a-z 0-9 _ . -",
                format!("{:?}", self.id),
            ));
        }
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(err(
                "name",
                "a name of 1 to 200 characters",
                format!("{} characters", self.name.chars().count()),
            ));
        }
        if self.channels.is_empty() {
            return Err(err(
                "channels",
                "at least one e-mail address, phone number or webhook URL",
                "none".into(),
            ));
        }
        // Fields are named as the CSV columns (and the admin API's JSON keys) with the
        // index within that column: "phones[1]" is the second phone number.
        let mut channels = Vec::with_capacity(self.channels.len());
        let mut seen_kind = std::collections::BTreeMap::new();
        for c in std::mem::take(&mut self.channels) {
            let i = seen_kind.entry(c.kind()).or_insert(0usize);
            let column = match c.kind() {
                ChannelKind::Email => "emails",
                ChannelKind::Sms => "phones",
                ChannelKind::Webhook => "webhooks",
            };
            let field = format!("{column}[{i}]");
            *i += 1;
            let c = c
                .validated()
                .map_err(|(expected, found)| err(&field, &expected, found))?;
            if !channels.contains(&c) {
                channels.push(c);
            }
        }
        self.channels = channels;
        if self.areas.is_empty() {
            return Err(err(
                "areas",
                "at least one province, district, feature or polygon",
                "none".into(),
            ));
        }
        let mut seen_area = [0usize; 4];
        for a in &self.areas {
            let slot = match a {
                Area::Province(_) => 0,
                Area::District(_) => 1,
                Area::Feature { .. } => 2,
                Area::Polygon(_) => 3,
            };
            let i = seen_area[slot]; // ok: slot is 0..=3
            seen_area[slot] += 1; // ok: slot is 0..=3
            match a {
                Area::Province(p) if !known.provinces.contains(p) => {
                    return Err(err(
                        &format!("provinces[{i}]"),
                        "a known ADM1 P-code such as MZ09",
                        format!("{p:?}"),
                    ));
                }
                Area::District(p) if !known.districts.contains(p) => {
                    return Err(err(
                        &format!("districts[{i}]"),
                        "a known ADM2 P-code such as MZ0906",
                        format!("{p:?}"),
                    ));
                }
                Area::Feature { layer, id }
                    if !valid_feature_part(layer) || !valid_feature_part(id) =>
                {
                    return Err(err(
                        &format!("features[{i}]"),
                        "layer:id, both non-empty without ';' or ':'",
                        format!("{layer:?}:{id:?}"),
                    ));
                }
                Area::Polygon(p) => {
                    check_polygon(p).map_err(|found| {
                        err(
                            &format!("polygon[{i}]"),
                            "a valid polygon (OGC simple features) in lon/lat, lon in -180..180, lat in -90..90",
                            found,
                        )
                    })?;
                }
                _ => {}
            }
        }
        let mut seen = BTreeSet::new();
        self.hazards.retain(|h| seen.insert(*h));
        Ok(self)
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_feature_part(s: &str) -> bool {
    !s.trim().is_empty() && !s.contains([';', ':'])
}

fn check_polygon(p: &Polygon<f64>) -> Result<(), String> {
    if p.exterior().0.len() < 4 {
        return Err(format!(
            "an exterior ring of {} points (a ring needs at least 4, closing point included)",
            p.exterior().0.len()
        ));
    }
    let Some(bb) = p.bounding_rect() else {
        return Err("an empty polygon".into());
    };
    let (min, max) = (bb.min(), bb.max());
    if !(min.x >= -180.0 && max.x <= 180.0 && min.y >= -90.0 && max.y <= 90.0) {
        return Err(format!(
            "a bounding box of lon {:.3}..{:.3}, lat {:.3}..{:.3} (lat/lon swapped or not EPSG:4326?)",
            min.x, max.x, min.y, max.y
        ));
    }
    if let Err(e) = p.check_validation() {
        return Err(format!("an invalid polygon: {e}"));
    }
    Ok(())
}

/// E.164 (ITU-T E.164 §6): a `+`, then 8 to 15 digits, the first (country code) not 0.
/// Spaces, `-`, `(`, `)` and `.` typed for readability are dropped first; nothing else is
/// rewritten (a national number without its country code is refused, not guessed).
/// The error describes the problem without repeating the number.
pub fn normalise_e164(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str =
        "an E.164 number: '+', country code, number (8 to 15 digits), e.g. +258841234567";
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect();
    let Some(digits) = s.strip_prefix('+') else {
        return Err((EXPECTED.into(), "no leading '+'".into()));
    };
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err((EXPECTED.into(), format!("the non-digit {c:?}")));
    }
    if !(8..=15).contains(&digits.len()) {
        return Err((EXPECTED.into(), format!("{} digits", digits.len())));
    }
    if digits.starts_with('0') {
        return Err((
            EXPECTED.into(),
            "a 0 right after '+' (no country code starts with 0)".into(),
        ));
    }
    Ok(s)
}

/// A documented e-mail check (a practical subset of RFC 5321/5322 addresses, ASCII only):
/// one `@`; a local part of 1–64 characters of letters, digits and ``!#$%&'*+/=?^_`{|}~-``
/// with single dots inside; a domain of at most 253 characters and at least two labels,
/// each 1–63 letters, digits or inner hyphens, the last one not all digits. Quoted local
/// parts, IP-literal domains and internationalised addresses (RFC 6531, which needs
/// SMTPUTF8 on every relay) are refused. The domain is lower-cased.
pub fn normalise_email(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str = "an e-mail address like name@example.org";
    let s = raw.trim();
    if !s.is_ascii() {
        return Err((EXPECTED.into(), "non-ASCII characters".into()));
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err((EXPECTED.into(), format!("{} '@'", s.matches('@').count())));
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if local.is_empty() || local.len() > 64 {
        return Err((
            EXPECTED.into(),
            format!("a local part of {} characters", local.len()),
        ));
    }
    if local
        .split('.')
        .any(|a| a.is_empty() || !a.chars().all(atext))
    {
        return Err((
            EXPECTED.into(),
            "a local part with a character outside letters, digits and !#$%&'*+/=?^_`{|}~- or a misplaced dot".into(),
        ));
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err((
            EXPECTED.into(),
            "a domain that is not host.tld (labels of letters, digits and inner hyphens)".into(),
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err((EXPECTED.into(), "a numeric top-level domain".into()));
    }
    Ok(format!("{local}@{domain}"))
}

/// A webhook URL: `http://` or `https://`, a host, no spaces, no `;`.
pub fn check_webhook_url(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str = "an http:// or https:// URL";
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        r
    } else {
        let scheme = lower.split(':').next().unwrap_or_default();
        return Err((EXPECTED.into(), format!("the scheme {scheme:?}")));
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((EXPECTED.into(), "whitespace in the URL".into()));
    }
    // ';' separates list items in the CSV layout: a URL needing one writes it as %3B.
    if s.contains(LIST_SEP) {
        return Err((EXPECTED.into(), "a ';' (write it as %3B)".into()));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() && !authority.contains('[') {
        return Err((EXPECTED.into(), "no host".into()));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{beira, known};
    use super::*;
    use crate::notify::subscriber::Channel;
    use geo::LineString;

    #[test]
    fn phone_numbers_are_accepted_only_in_e164_form() {
        assert_eq!(normalise_e164("+258 84 123 4567").unwrap(), "+258841234567");
        assert_eq!(normalise_e164("+1 (202) 555-0143").unwrap(), "+12025550143");
        for (bad, why) in [
            ("841234567", "no leading '+'"),
            ("+0258841234567", "a 0 right after '+'"),
            ("+2588412", "7 digits"),
            ("+2588412345678901", "16 digits"),
            ("+25884x234567", "non-digit"),
        ] {
            let (_, found) = normalise_e164(bad).unwrap_err();
            assert!(found.contains(why), "{bad}: {found}");
        }
    }

    #[test]
    fn email_addresses_are_checked_and_the_domain_lower_cased() {
        assert_eq!(
            normalise_email(" Ana.Silva@Example.ORG ").unwrap(),
            "Ana.Silva@example.org"
        );
        assert!(normalise_email("o'neil+alerts@iom.int").is_ok());
        for bad in [
            "ana.example.org",
            "ana@@example.org",
            "ana@example",
            ".ana@example.org",
            "ana..silva@example.org",
            "ana@-example.org",
            "ana@exa mple.org",
            "joão@example.org",
            "ana@1.2.3.4",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn webhooks_must_be_http_or_https() {
        assert!(check_webhook_url("https://hooks.example.org/aviso?t=1").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_webhook_url("ftp://example.org/").is_err());
        assert!(check_webhook_url("https:///path").is_err());
        assert!(check_webhook_url("https://exa mple.org/").is_err());
    }

    #[test]
    fn validation_names_the_subscriber_line_and_field() {
        let mut s = beira();
        s.areas.push(Area::District("MZ9999".into()));
        let e = s.validate(&known(), Some(7)).unwrap_err().to_string();
        assert!(
            e.contains("pf-beira") && e.contains("line 7") && e.contains("districts[1]"),
            "{e}"
        );
        assert!(e.contains("MZ9999"), "{e}");

        let mut s = beira();
        s.channels.push(Channel::Sms("0841234567".into()));
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("phones[1]") && e.contains("E.164"), "{e}");
        assert!(
            !e.contains("0841234567"),
            "the number itself must not be echoed: {e}"
        );
    }

    #[test]
    fn a_self_intersecting_or_swapped_polygon_is_refused() {
        let bowtie = Polygon::new(
            LineString::from(vec![
                (34.0, -20.0),
                (35.0, -19.0),
                (35.0, -20.0),
                (34.0, -19.0),
                (34.0, -20.0),
            ]),
            vec![],
        );
        let mut s = beira();
        s.areas = vec![Area::Polygon(bowtie)];
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("polygon[0]") && e.contains("invalid"), "{e}");

        // A latitude of 120 degrees can only come from swapped or projected coordinates.
        let swapped = Polygon::new(
            LineString::from(vec![
                (-19.9, 34.8),
                (-19.8, 120.0),
                (-19.7, 34.8),
                (-19.9, 34.8),
            ]),
            vec![],
        );
        let mut s = beira();
        s.areas = vec![Area::Polygon(swapped)];
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("lat"), "{e}");
    }
}
