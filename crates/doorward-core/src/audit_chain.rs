//! The audit log's hash chain: what each row's hash covers, and the check
//! that a stored chain is whole. Pure functions, no SQL: the engines store
//! the links (`seq`, `prev_hash`, `hash` of `audit_events`), and [`verify`]
//! walks them page by page through the `Store`.
//!
//! Link `n` (`seq` 1, 2, 3, ... in commit order) stores
//! `hash_n = SHA-256(hash_{n-1} || encode(n, event))`, with 32 zero bytes
//! ([`GENESIS`]) before the first link. Changing any stored field of a row,
//! deleting or reordering rows breaks the chain at that row; appending a
//! forged row at the end, or rewriting every hash from some row on, does not
//! (whoever can write the database can recompute the chain): compare the
//! last link with one kept elsewhere ([`verify`]'s `anchor`) for that.
//!
//! `encode` is unambiguous: fixed widths, presence tags and length prefixes,
//! never a separator that a field could contain:
//!
//! ```text
//! u64 len + "doorward-audit-v1"            domain and version
//! u64 seq                                   big-endian
//! 16 bytes id
//! i64 at                                    unix milliseconds, towards the past
//! u64 len + type                            the stored event type string
//! actor_id, user_id, session_id             0x00, or 0x01 + 16 bytes
//! ip, user_agent                            0x00, or 0x01 + u64 len + UTF-8
//! u64 len + outcome
//! ```
//!
//! Times are hashed as the whole milliseconds every engine stores, so a
//! chain reads back the same from SQLite and PostgreSQL, and survives a copy
//! between them.

use std::fmt;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{AuditEvent, Store, StoreError};

/// A SHA-256 digest linking one audit row to the previous one.
pub type ChainHash = [u8; 32];

/// The `prev_hash` of the first link.
pub const GENESIS: ChainHash = [0; 32];

const DOMAIN: &[u8] = b"doorward-audit-v1";

/// An audit row with its place in the chain, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedEvent {
    /// Position in the chain: 1 for the first event, then one more per event.
    pub seq: u64,
    pub event: AuditEvent,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// The last link of a chain: what the next one follows, and what an
/// operator keeps elsewhere to notice rows deleted from the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: ChainHash,
}

impl ChainHead {
    /// `SEQ:HEX`, the form `doorward audit verify --anchor` takes.
    pub fn parse(s: &str) -> Option<ChainHead> {
        let (seq, hex) = s.trim().split_once(':')?;
        let seq = seq.parse().ok()?;
        let mut hash = [0u8; 32];
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(ChainHead { seq, hash })
    }
}

/// `SEQ:HEX` (lower-case hex), read back by [`ChainHead::parse`].
impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, hex(&self.hash))
    }
}

/// Lower-case hex of a hash.
pub fn hex(hash: &ChainHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the stored chain stands: its last link, and how many stored events
/// have no place in it (written by an older Doorward during an upgrade, or
/// whose chain columns were cleared).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainState {
    pub head: Option<ChainHead>,
    pub unchained: u64,
}

/// Unix milliseconds, rounded towards the past: the precision both engines store.
pub fn millis(t: OffsetDateTime) -> i64 {
    t.unix_timestamp() * 1000 + i64::from(t.millisecond())
}

/// The smallest whole millisecond not before `t`: a stored time `s` is
/// `>= t` exactly when `s >= millis_ceil(t)` (and likewise for `<`), so
/// filters compare stored times with a caller's precise bounds exactly.
pub fn millis_ceil(t: OffsetDateTime) -> i64 {
    let below_a_millisecond = t.nanosecond() % 1_000_000;
    millis(t) + i64::from(below_a_millisecond > 0)
}

/// The time `ms` unix milliseconds name (`None` outside the supported range).
pub fn from_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn put_uuid(h: &mut Sha256, id: Option<Uuid>) {
    match id {
        None => h.update([0]),
        Some(id) => {
            h.update([1]);
            h.update(id.as_bytes());
        }
    }
}

fn put_text(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0]),
        Some(s) => {
            h.update([1]);
            put_bytes(h, s.as_bytes());
        }
    }
}

/// The hash of link `seq` holding `event`, following `prev`.
pub fn link_hash(prev: &ChainHash, seq: u64, event: &AuditEvent) -> ChainHash {
    let mut h = Sha256::new();
    h.update(prev);
    put_bytes(&mut h, DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(event.id.as_bytes());
    h.update(millis(event.at).to_be_bytes());
    put_bytes(&mut h, event.kind.as_str().as_bytes());
    put_uuid(&mut h, event.actor_id);
    put_uuid(&mut h, event.user_id);
    put_uuid(&mut h, event.session_id);
    put_text(&mut h, event.ip.as_deref());
    put_text(&mut h, event.user_agent.as_deref());
    put_bytes(&mut h, event.outcome.as_bytes());
    h.finalize().into()
}

/// The link that appends `event` after `head` (`None`: the chain is empty).
/// Its `at` is truncated to the millisecond, as it will read back.
pub fn next_link(head: Option<ChainHead>, event: &AuditEvent) -> ChainedEvent {
    let (seq, prev_hash) = match head {
        Some(head) => (head.seq.saturating_add(1), head.hash),
        None => (1, GENESIS),
    };
    let mut event = event.clone();
    event.at = from_millis(millis(event.at)).unwrap_or(event.at);
    let hash = link_hash(&prev_hash, seq, &event);
    ChainedEvent {
        seq,
        event,
        prev_hash,
        hash,
    }
}

impl ChainedEvent {
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// The first thing wrong with a stored chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A row's `seq` is not one more than the previous row's: rows before it
    /// were deleted (or `seq` was changed).
    #[error(
        "event seq {found} (id {id}): gap, expected seq {expected} (events deleted or renumbered)"
    )]
    Gap { expected: u64, found: u64, id: Uuid },
    /// `prev_hash` is not the previous row's `hash`.
    #[error(
        "event seq {seq} (id {id}): broken link, prev_hash is not the hash of the event before it"
    )]
    BrokenLink { seq: u64, id: Uuid },
    /// `hash` does not match the row's own fields.
    #[error(
        "event seq {seq} (id {id}): hash mismatch, the event was changed after it was written"
    )]
    HashMismatch { seq: u64, id: Uuid },
    /// The chain ends before a link it is known to have had.
    #[error(
        "the chain ends at seq {last}, but seq {expected} existed: events deleted from the end"
    )]
    Truncated { expected: u64, last: u64 },
    /// The link at the anchor's position is not the anchored one.
    #[error("event seq {seq} (id {id}): does not match the anchor (the chain was rewritten)")]
    AnchorMismatch { seq: u64, id: Uuid },
    /// Stored events without a place in the chain.
    #[error("{count} stored events have no place in the chain (written by an older Doorward, or their chain columns were cleared)")]
    Unchained { count: u64 },
}

/// Checks links one at a time, in chain order, from the first.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    head: Option<ChainHead>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier { head: None }
    }

    /// Checks `link` follows the links checked so far, then takes it as
    /// the new head.
    pub fn check(&mut self, link: &ChainedEvent) -> Result<(), ChainBreak> {
        let (expected, prev) = match self.head {
            Some(head) => (head.seq.saturating_add(1), head.hash),
            None => (1, GENESIS),
        };
        let id = link.event.id;
        if link.seq != expected {
            return Err(ChainBreak::Gap {
                expected,
                found: link.seq,
                id,
            });
        }
        if link.prev_hash != prev {
            return Err(ChainBreak::BrokenLink { seq: link.seq, id });
        }
        if link.hash != link_hash(&link.prev_hash, link.seq, &link.event) {
            return Err(ChainBreak::HashMismatch { seq: link.seq, id });
        }
        self.head = Some(link.head());
        Ok(())
    }

    /// The last link checked (`None` before the first).
    pub fn head(&self) -> Option<ChainHead> {
        self.head
    }

    /// How many links were checked.
    pub fn verified(&self) -> u64 {
        self.head.map_or(0, |h| h.seq)
    }
}

/// Why [`verify`] could not say "intact".
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("audit log broken: {0}")]
    Broken(ChainBreak),
    #[error("reading the audit log: {0}")]
    Store(#[from] StoreError),
}

/// Walks the stored chain from its first link to the head it had when the
/// walk began (events appended meanwhile are left for the next run),
/// `page_size` links at a time, so memory stays flat however long the log.
/// With `anchor` (a head recorded earlier), also checks that the chain
/// still holds that link. Returns the head checked (`None`: no events).
pub async fn verify(
    store: &dyn Store,
    page_size: u32,
    anchor: Option<ChainHead>,
) -> Result<Option<ChainHead>, VerifyError> {
    let state = store.audit_chain_state().await?;
    let end = state.head.map_or(0, |h| h.seq);
    let page_size = page_size.max(1);
    let mut verifier = ChainVerifier::new();
    while verifier.verified() < end {
        let page = store.audit_chain(verifier.verified(), page_size).await?;
        if page.is_empty() {
            break;
        }
        for link in page.iter().filter(|l| l.seq <= end) {
            verifier.check(link).map_err(VerifyError::Broken)?;
            if let Some(anchor) = anchor.filter(|a| a.seq == link.seq) {
                if anchor.hash != link.hash {
                    return Err(VerifyError::Broken(ChainBreak::AnchorMismatch {
                        seq: link.seq,
                        id: link.event.id,
                    }));
                }
            }
        }
        if page.len() < page_size as usize {
            break;
        }
    }
    let last = verifier.verified();
    if last < end {
        return Err(VerifyError::Broken(ChainBreak::Truncated {
            expected: end,
            last,
        }));
    }
    if let Some(anchor) = anchor.filter(|a| a.seq > last) {
        return Err(VerifyError::Broken(ChainBreak::Truncated {
            expected: anchor.seq,
            last,
        }));
    }
    if state.unchained > 0 {
        return Err(VerifyError::Broken(ChainBreak::Unchained {
            count: state.unchained,
        }));
    }
    Ok(verifier.head())
}

#[cfg(test)]
mod tests;
