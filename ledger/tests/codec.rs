//! The protobuf encoding: every event kind round-trips, foreign bytes are validated with
//! field paths, and the stored envelope is exactly what a protobuf library produces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger::codec::{Envelope, Wire, encode_envelope};
use ledger::conformance::sample_events;
use ledger::{Event, RequestId, StreamId, StreamKind};
use prost::Message;
use proto::v1 as pb;

#[test]
fn every_event_kind_round_trips_and_is_valid() {
    let samples = sample_events();
    let mut names: Vec<&str> = samples.iter().map(Event::name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 16, "one sample per event kind");
    for event in samples {
        event
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", event.name()));
        let bytes = event.to_pb().encode_to_vec();
        let decoded = Event::from_pb(pb::Event::decode(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn envelope_bytes_equal_the_full_protobuf_encoding() {
    for (i, event) in sample_events().into_iter().enumerate() {
        let stream = StreamId::new(StreamKind::Household, "HH-1").unwrap();
        let request_id = RequestId::new("req-1").unwrap();
        let mut spliced = Vec::new();
        encode_envelope(
            i as u64,
            &stream,
            7,
            1_700_000_000_000,
            &request_id,
            &event.to_pb().encode_to_vec(),
            &mut spliced,
        );
        let whole = pb::RecordedEvent {
            position: i as u64,
            stream: Some(stream.to_pb()),
            stream_version: 7,
            recorded_at_unix_ms: 1_700_000_000_000,
            request_id: "req-1".into(),
            event: Some(event.to_pb()),
        }
        .encode_to_vec();
        assert_eq!(spliced, whole);
        let decoded = Envelope::decode(&spliced).unwrap();
        assert_eq!(decoded.event, event);
        assert_eq!(decoded.position, i as u64);
    }
}

#[test]
fn foreign_bytes_are_validated_with_field_paths() {
    let mut premium = match sample_events()[5].to_pb().body {
        Some(pb::event::Body::PremiumPaid(p)) => p,
        other => panic!("sample 5 is not a premium: {other:?}"),
    };
    premium.amount.as_mut().unwrap().currency_code = "KSH".into();
    let event = pb::Event {
        body: Some(pb::event::Body::PremiumPaid(premium.clone())),
    };
    assert_eq!(
        Event::from_pb(event).unwrap_err().to_string(),
        "premium_paid.amount.currency_code: unknown currency code \"KSH\" (expected an ISO 4217 code the ledger supports)"
    );

    premium.amount = None;
    let event = pb::Event {
        body: Some(pb::event::Body::PremiumPaid(premium.clone())),
    };
    assert_eq!(
        Event::from_pb(event).unwrap_err().to_string(),
        "premium_paid.amount: is required"
    );

    premium.source = 0;
    premium.amount = Some(pb::Money {
        minor_units: 1,
        currency_code: "KES".into(),
    });
    let event = pb::Event {
        body: Some(pb::event::Body::PremiumPaid(premium)),
    };
    assert_eq!(
        Event::from_pb(event).unwrap_err().field,
        "premium_paid.source"
    );

    assert_eq!(
        Event::from_pb(pb::Event { body: None }).unwrap_err().field,
        "body"
    );
    let bad_date = pb::Date {
        year: 2026,
        month: 2,
        day: 30,
    };
    assert!(
        ledger::codec::date_from_pb("paid_on", Some(bad_date))
            .unwrap_err()
            .to_string()
            .contains("2026-2-30 is not a calendar date")
    );
    assert!(Envelope::decode(b"\xff\xff\xff").is_err());
}

#[test]
fn unknown_fields_are_tolerated() {
    // A newer writer added field 99 to the envelope: old readers ignore it.
    let event = sample_events().remove(3);
    let mut bytes = Envelope {
        position: 0,
        stream: StreamId::new(StreamKind::Household, "HH-1").unwrap(),
        stream_version: 1,
        recorded_at_unix_ms: 0,
        request_id: RequestId::new("r").unwrap(),
        event: event.clone(),
    }
    .encode();
    prost::encoding::string::encode(99, &"from the future".to_owned(), &mut bytes);
    assert_eq!(Envelope::decode(&bytes).unwrap().event, event);
}

#[test]
fn invariants_are_checked_before_append() {
    let mut samples = sample_events();
    let Event::ClaimAdjudicated(decision) = &mut samples[8] else {
        panic!("sample 8 is the adjudication");
    };
    decision.lines[0].copay = ledger::Amount::new(1, ledger::Currency::KES);
    let err = samples[8].validate().unwrap_err();
    assert_eq!(err.field, "claim_adjudicated.lines[0].payer");
    assert!(err.reason.contains("must equal allowed"), "{err}");

    let Event::FacilityStatementIssued(statement) = &mut samples[14] else {
        panic!("sample 14 is the statement");
    };
    statement.amount_due = ledger::Amount::new(1, ledger::Currency::KES);
    assert_eq!(
        samples[14].validate().unwrap_err().field,
        "facility_statement_issued.amount_due"
    );
}

#[test]
fn direct_encoding_equals_prost_for_every_kind_and_edge_value() {
    let mut events = sample_events();
    // Edge values: negative and zero amounts, empty optional strings, a negative reason code,
    // an empty findings entry, large quantities.
    if let Event::ClaimAdjudicated(mut d) = events[8].clone() {
        d.reason_code = -1;
        d.lines[0].findings.push(String::new());
        d.lines[0].product_id = None;
        d.lines[1].approved_quantity = u32::MAX;
        events.push(Event::ClaimAdjudicated(d));
    }
    if let Event::StockVisitRecorded(mut s) = events[12].clone() {
        s.stock_found = 0;
        s.unit_price = ledger::Amount::new(-7, ledger::Currency::XOF);
        events.push(Event::StockVisitRecorded(s));
    }
    if let Event::MemberEnrolled(mut m) = events[2].clone() {
        m.is_head = false;
        m.facility_id = None;
        m.birth_date = ledger::Date::from_ymd_opt(-44, 3, 15).unwrap();
        events.push(Event::MemberEnrolled(m));
    }
    for event in &events {
        let mut direct = vec![0xAA]; // appends after existing bytes
        ledger::codec::encode_event(event, &mut direct);
        assert_eq!(
            &direct[1..],
            event.to_pb().encode_to_vec(),
            "{}",
            event.name()
        );
    }
}

fn envelope_of(event: Event) -> Vec<u8> {
    Envelope {
        position: 42,
        stream: StreamId::new(StreamKind::Claim, "CL-1").unwrap(),
        stream_version: 3,
        recorded_at_unix_ms: 1_795_000_000_000,
        request_id: RequestId::new("req-9").unwrap(),
        event,
    }
    .encode()
}

#[test]
fn the_direct_decoder_equals_prost_on_every_kind() {
    for event in sample_events() {
        let bytes = envelope_of(event.clone());
        let direct = Envelope::decode(&bytes).unwrap();
        assert_eq!(
            direct,
            Envelope::decode_via_prost(&bytes).unwrap(),
            "{}",
            event.name()
        );
        assert_eq!(direct.event, event);
    }
    // Errors name the same fields.
    let mut premium = match sample_events()[5].to_pb().body {
        Some(pb::event::Body::PremiumPaid(p)) => p,
        other => panic!("{other:?}"),
    };
    premium.amount.as_mut().unwrap().currency_code = "KSH".into();
    let bytes = pb::Event {
        body: Some(pb::event::Body::PremiumPaid(premium)),
    }
    .encode_to_vec();
    assert_eq!(
        ledger::codec::decode_event(&bytes).unwrap_err().field,
        "premium_paid.amount.currency_code"
    );
}

proptest::proptest! {
    #[test]
    fn mutated_bytes_never_panic_and_agree_when_both_accept(
        kind in 0usize..16,
        flips in proptest::collection::vec((0usize..4096, 0u8..=255), 1..4),
        cut in proptest::option::of(0usize..4096),
    ) {
        let mut bytes = envelope_of(sample_events()[kind].clone());
        for (at, value) in flips {
            let n = bytes.len();
            bytes[at % n] = value;
        }
        if let Some(cut) = cut {
            let n = bytes.len();
            bytes.truncate(cut % n);
        }
        let direct = Envelope::decode(&bytes);
        let reference = Envelope::decode_via_prost(&bytes);
        if let (Ok(a), Ok(b)) = (&direct, &reference) {
            proptest::prop_assert_eq!(a, b);
        }
    }
}
