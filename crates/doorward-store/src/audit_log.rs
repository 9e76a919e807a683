//! The structured log line of every audit event (target `doorward::audit`),
//! emitted only once the transaction that wrote the event has committed: a
//! change that rolled back is never logged as done.
//!
//! The engines' `audit::append` returns an [`Appended`]; it is `#[must_use]`,
//! so a transaction that writes audit rows and forgets to log them after its
//! commit does not compile without a warning (and CI denies warnings).

use doorward_core::audit_chain::ChainedEvent;
use doorward_core::store::AuditEvent;

use crate::postgres::Chainer;

/// Audit rows written by a transaction that has not committed yet: links of
/// the chain (SQLite appends inside the transaction), or rows that get their
/// link after the commit (PostgreSQL, see `postgres::chainer`).
#[must_use = "call `.committed()` after the transaction commits, so the events are logged"]
#[derive(Debug, Default)]
pub(crate) struct Appended {
    links: Vec<ChainedEvent>,
    unlinked: Vec<AuditEvent>,
    chainer: Option<Chainer>,
}

impl Appended {
    pub(crate) fn new(links: Vec<ChainedEvent>) -> Appended {
        Appended {
            links,
            ..Appended::default()
        }
    }

    /// Rows the chainer links once they are committed.
    pub(crate) fn unlinked(events: Vec<AuditEvent>, chainer: Chainer) -> Appended {
        Appended {
            unlinked: events,
            chainer: Some(chainer),
            ..Appended::default()
        }
    }

    /// The transaction committed: log each event, and have unlinked ones linked.
    pub(crate) fn committed(self) {
        for link in &self.links {
            log(&link.event, Some(link.seq));
        }
        for event in &self.unlinked {
            log(event, None);
        }
        if let Some(chainer) = self.chainer.filter(|_| !self.unlinked.is_empty()) {
            chainer.poke();
        }
    }
}

/// One line per event: its type, outcome and whom it concerns. Events hold
/// no secrets (no passwords, tokens or hashes), only ids, the client's IP and
/// user agent. (`display` is in scope inside tracing's macros.)
/// `seq` is the event's place in the chain when it already has one.
fn log(e: &AuditEvent, seq: Option<u64>) {
    tracing::info!(
        target: "doorward::audit",
        event_id = %e.id,
        seq,
        "type" = e.kind.as_str(),
        outcome = e.outcome.as_str(),
        user_id = e.user_id.map(display),
        actor_id = e.actor_id.map(display),
        session_id = e.session_id.map(display),
        ip = e.ip.as_deref(),
        user_agent = e.user_agent.as_deref(),
        "audit event"
    );
}
