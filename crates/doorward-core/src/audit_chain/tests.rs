//! The chain function and the verifier: any change to a stored field, a
//! deleted, reordered or renumbered row breaks verification at that row.

use time::macros::datetime;

use super::*;
use crate::audit::AuditKind;

fn event(i: u8) -> AuditEvent {
    AuditEvent {
        id: Uuid::from_bytes([i; 16]),
        at: datetime!(2030-01-01 00:00:00.123_456 UTC) + time::Duration::seconds(i64::from(i)),
        kind: AuditKind::Login,
        actor_id: Some(Uuid::from_bytes([100 + i; 16])),
        user_id: Some(Uuid::from_bytes([100 + i; 16])),
        session_id: None,
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("test/1.0".to_owned()),
        outcome: "success".to_owned(),
    }
}

/// A chain of `n` events, built the way the engines append.
fn chain(n: u8) -> Vec<ChainedEvent> {
    let mut links: Vec<ChainedEvent> = Vec::new();
    for i in 1..=n {
        let head = links.last().map(ChainedEvent::head);
        links.push(next_link(head, &event(i)));
    }
    links
}

fn verify_all(links: &[ChainedEvent]) -> Result<u64, ChainBreak> {
    let mut v = ChainVerifier::new();
    for link in links {
        v.check(link)?;
    }
    Ok(v.verified())
}

#[test]
fn an_untouched_chain_verifies() {
    let links = chain(5);
    assert_eq!(verify_all(&links), Ok(5));
    assert_eq!(links[0].seq, 1);
    assert_eq!(links[0].prev_hash, GENESIS);
    assert_eq!(links[3].prev_hash, links[2].hash);
    assert_eq!(verify_all(&[]), Ok(0));
}

#[test]
fn links_hold_the_stored_millisecond() {
    let link = next_link(None, &event(1));
    assert_eq!(link.event.at, datetime!(2030-01-01 00:00:01.123 UTC));
    // The hash is the same whether computed from the precise or the stored time.
    assert_eq!(link.hash, link_hash(&GENESIS, 1, &event(1)));
    assert_eq!(millis(datetime!(1969-12-31 23:59:59.999_5 UTC)), -1);
}

/// Every field is covered: changing any one breaks its own row's hash.
#[test]
fn changing_any_field_is_a_hash_mismatch_at_that_row() {
    type Tamper = fn(&mut ChainedEvent);
    let tampers: [(&str, Tamper); 11] = [
        ("id", |l| l.event.id = Uuid::from_bytes([9; 16])),
        ("at", |l| l.event.at += time::Duration::milliseconds(1)),
        ("type", |l| l.event.kind = AuditKind::LoginFailed),
        ("actor_id", |l| l.event.actor_id = None),
        ("user_id", |l| l.event.user_id = Some(Uuid::nil())),
        ("session_id", |l| l.event.session_id = Some(Uuid::nil())),
        ("ip", |l| l.event.ip = Some("203.0.113.10".to_owned())),
        ("user_agent", |l| l.event.user_agent = None),
        ("outcome", |l| l.event.outcome = "failure".to_owned()),
        ("hash", |l| l.hash[0] ^= 1),
        ("outcome, empty", |l| l.event.outcome.clear()),
    ];
    for (field, tamper) in tampers {
        let mut links = chain(4);
        tamper(&mut links[2]);
        let id = links[2].event.id;
        assert_eq!(
            verify_all(&links),
            Err(ChainBreak::HashMismatch { seq: 3, id }),
            "{field}"
        );
    }
}

/// Field boundaries are not ambiguous: moving bytes between adjacent
/// fields, or between "absent" and "empty", changes the hash.
#[test]
fn the_encoding_is_unambiguous() {
    let base = event(1);
    let mut a = base.clone();
    a.ip = Some("ab".to_owned());
    a.user_agent = Some("c".to_owned());
    let mut b = base.clone();
    b.ip = Some("a".to_owned());
    b.user_agent = Some("bc".to_owned());
    assert_ne!(link_hash(&GENESIS, 1, &a), link_hash(&GENESIS, 1, &b));
    let mut none = base.clone();
    none.ip = None;
    let mut empty = base.clone();
    empty.ip = Some(String::new());
    assert_ne!(
        link_hash(&GENESIS, 1, &none),
        link_hash(&GENESIS, 1, &empty)
    );
    let mut actor_only = base.clone();
    actor_only.user_id = None;
    let mut user_only = base;
    user_only.actor_id = None;
    assert_ne!(
        link_hash(&GENESIS, 1, &actor_only),
        link_hash(&GENESIS, 1, &user_only)
    );
}

#[test]
fn a_recomputed_hash_breaks_the_next_link() {
    let mut links = chain(4);
    links[1].event.outcome = "failure".to_owned();
    links[1].hash = link_hash(&links[1].prev_hash, 2, &links[1].event);
    let id = links[2].event.id;
    assert_eq!(
        verify_all(&links),
        Err(ChainBreak::BrokenLink { seq: 3, id })
    );
}

#[test]
fn deleting_a_middle_row_is_a_gap_at_the_next() {
    let mut links = chain(5);
    links.remove(2);
    let id = links[2].event.id;
    assert_eq!(
        verify_all(&links),
        Err(ChainBreak::Gap {
            expected: 3,
            found: 4,
            id
        })
    );
    // Renumbering the rest does not hide it: the link is broken instead.
    for link in &mut links[2..] {
        link.seq -= 1;
    }
    assert_eq!(
        verify_all(&links),
        Err(ChainBreak::BrokenLink { seq: 3, id })
    );
}

#[test]
fn deleting_the_first_row_or_reordering_breaks_the_chain() {
    let links = chain(4);
    assert!(matches!(
        verify_all(&links[1..]),
        Err(ChainBreak::Gap {
            expected: 1,
            found: 2,
            ..
        })
    ));
    let mut swapped = links.clone();
    swapped.swap(1, 2);
    assert!(matches!(
        verify_all(&swapped),
        Err(ChainBreak::Gap {
            expected: 2,
            found: 3,
            ..
        })
    ));
    // Swapping the events but keeping the positions: the hashes no longer match.
    let mut moved = links;
    let (two, three) = (moved[1].event.clone(), moved[2].event.clone());
    moved[1].event = three;
    moved[2].event = two;
    assert!(matches!(
        verify_all(&moved),
        Err(ChainBreak::HashMismatch { seq: 2, .. })
    ));
}

#[test]
fn heads_print_and_parse_as_seq_colon_hex() {
    let head = chain(3)[2].head();
    let shown = head.to_string();
    assert!(shown.starts_with("3:"), "{shown}");
    assert_eq!(shown.len(), 2 + 64);
    assert_eq!(ChainHead::parse(&shown), Some(head));
    assert_eq!(ChainHead::parse(&format!(" {shown}\n")), Some(head));
    for bad in [
        "",
        "3",
        "3:",
        "x:00",
        &shown[..shown.len() - 1],
        &format!("{shown}0"),
    ] {
        assert_eq!(ChainHead::parse(bad), None, "{bad}");
    }
    assert_eq!(ChainHead::parse(&format!("3:{}", "é".repeat(32))), None);
}
