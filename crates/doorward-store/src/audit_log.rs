//! The structured log line of every audit event (target `doorward::audit`),
//! emitted only once the transaction that wrote the event has committed: a
//! change that rolled back is never logged as done.
//!
//! The engines' `audit::append` returns an [`Appended`]; it is `#[must_use]`,
//! so a transaction that writes audit rows and forgets to log them after its
//! commit does not compile without a warning (and CI denies warnings).

use doorward_core::audit_chain::ChainedEvent;

/// Audit rows written by a transaction that has not committed yet.
#[must_use = "call `.committed()` after the transaction commits, so the events are logged"]
#[derive(Debug, Default)]
pub(crate) struct Appended(Vec<ChainedEvent>);

impl Appended {
    pub(crate) fn new(links: Vec<ChainedEvent>) -> Appended {
        Appended(links)
    }

    /// The transaction committed: log each event.
    pub(crate) fn committed(self) {
        for link in &self.0 {
            log(link);
        }
    }
}

/// One line per event: its type, outcome and whom it concerns. Events hold
/// no secrets (no passwords, tokens or hashes), only ids, the client's IP and
/// user agent. (`display` is in scope inside tracing's macros.)
fn log(link: &ChainedEvent) {
    let e = &link.event;
    tracing::info!(
        target: "doorward::audit",
        event_id = %e.id,
        seq = link.seq,
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
