//! The reason of a Cancel or Error in the CAP (issue 13): written by the shared writer.

use super::*;

#[test]
fn an_error_says_why_in_its_note_and_descriptions_and_an_alert_never_does() {
    let sent = Utc::now();
    let mut v = AlertVersion {
        event_id: "e".into(),
        version: 2,
        identifier: "aviso-e-2".into(),
        sender: "aviso@ingd.gov.mz".into(),
        msg_type: MsgType::Error,
        status: CapStatus::Actual,
        sent,
        references: Some("aviso@ingd.gov.mz,aviso-e-1,2023-03-10T06:00:00+00:00".into()),
        changes: Default::default(),
        districts: BTreeMap::new(),
    };
    let parts = InfoParts {
        event: ["Ciclone tropical", "Tropical cyclone"],
        grading: grading(MsgType::Error, None, None),
        onset: None,
        expires: sent,
        headline: ["h".into(), "h".into()],
        description: ["Previsão X.".into(), "Forecast X.".into()],
        instruction: ["i".into(), "i".into()],
        parameters: Vec::new(),
        polygons: BTreeMap::new(),
    };
    let opts = CapOptions {
        withdrawal_reason: Some(["emitido por engano".into(), "issued by mistake".into()]),
        ..CapOptions::default()
    };
    let xml = write_cap(&v, &opts, &parts).unwrap();
    assert!(xml.contains("<msgType>Error</msgType>"), "{xml}");
    assert!(
        xml.contains("<references>aviso@ingd.gov.mz,aviso-e-1,"),
        "{xml}"
    );
    assert!(
        xml.contains("<note>emitido por engano / issued by mistake</note>"),
        "{xml}"
    );
    assert!(
        xml.contains("Motivo: emitido por engano\nPrevisão X."),
        "{xml}"
    );
    assert!(
        xml.contains("Reason: issued by mistake\nForecast X."),
        "{xml}"
    );
    // An Alert ignores a reason: it is for a Cancel or an Error only.
    v.msg_type = MsgType::Alert;
    let xml = write_cap(&v, &opts, &parts).unwrap();
    assert!(!xml.contains("mistake") && !xml.contains("<note>"), "{xml}");
}
