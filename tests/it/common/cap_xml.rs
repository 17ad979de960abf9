//! Reading CAP documents back in tests: each element's path and text, in order.

use quick_xml::Reader;
use quick_xml::events::Event;

use aviso::alerts::cap::CAP_NS;

/// A parsed CAP document: each element's path ("alert/info/urgency") and text, in order.
pub fn parse(xml: &str) -> Vec<(String, String)> {
    let mut r = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                if name == "alert" {
                    let ns = e.try_get_attribute("xmlns").unwrap().unwrap();
                    assert_eq!(ns.unescape_value().unwrap(), CAP_NS);
                }
                stack.push(name);
                out.push((stack.join("/"), String::new()));
            }
            // Text belongs to the element still open (indentation between elements is
            // whitespace and is dropped by `texts`'s trim).
            Event::Text(t) if !stack.is_empty() => {
                out.last_mut().unwrap().1.push_str(&t.decode().unwrap());
            }
            Event::GeneralRef(g) => {
                let text = match g.decode().unwrap().as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unknown entity {other}"),
                };
                out.last_mut().unwrap().1.push_str(text);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    out
}

pub fn children<'a>(doc: &'a [(String, String)], parent: &str) -> Vec<&'a str> {
    let prefix = format!("{parent}/");
    doc.iter()
        .filter_map(|(p, _)| p.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('/'))
        .collect()
}

pub fn texts<'a>(doc: &'a [(String, String)], path: &str) -> Vec<&'a str> {
    doc.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| t.trim())
        .collect()
}

/// True when `want` appears in `have` in this order (other elements may sit between).
pub fn in_order(have: &[&str], want: &[&str]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

/// The elements of a CAP 1.2 `info` that aviso writes, in the standard's order (OASIS CAP
/// 1.2 §3.2.2 table); `in_order(children, &INFO_ORDER)` checks a document keeps it.
pub const INFO_ORDER: [&str; 15] = [
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "effective",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "parameter",
];

/// Checks with xmllint that every (name, document) is well-formed XML. Returns false when
/// xmllint is absent and AVISO_SKIP_MISSING=1 asks to skip (otherwise it fails: CI
/// installs it through scripts/setup.sh test). Well-formedness only: the CAP 1.2 XSD is
/// not shipped.
pub fn xmllint_well_formed<'a>(docs: impl IntoIterator<Item = (String, &'a str)>) -> bool {
    if std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_err()
    {
        super::skip_or_fail("xmllint not found (Debian package libxml2-utils)");
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, xml) in docs {
        let p = dir.path().join(format!("{name}.xml"));
        std::fs::write(&p, xml).unwrap();
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    true
}
