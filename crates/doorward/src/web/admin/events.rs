//! Audit events as table rows (the user page and the audit log): who they
//! are about and who acted, by email (looked up once per account), or a
//! short id once the account is deleted.

use std::collections::HashMap;

use doorward_core::audit::AuditKind;
use doorward_core::store::AuditEvent;
use doorward_core::Error;
use uuid::Uuid;

use super::day_second;
use crate::app::AppState;
use crate::web::error::WebError;

/// What an audit event type means, for people.
pub(super) fn kind_label(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Signup => "Signed up",
        AuditKind::Login => "Logged in",
        AuditKind::LoginFailed => "Login failed",
        AuditKind::Refresh => "Session refreshed",
        AuditKind::RefreshReused => "Refresh token reused",
        AuditKind::Logout => "Logged out",
        AuditKind::SessionRevoked => "Session signed out",
        AuditKind::PasswordChanged => "Password changed",
        AuditKind::PasswordResetRequested => "Password reset requested",
        AuditKind::PasswordReset => "Password reset",
        AuditKind::EmailVerified => "Email confirmed",
        AuditKind::Throttled => "Throttled",
        AuditKind::UserDisabled => "Account disabled",
        AuditKind::UserEnabled => "Account enabled",
        AuditKind::RolesChanged => "Roles changed",
        AuditKind::UserDeleted => "Account deleted",
        AuditKind::KeyRotated => "Signing key rotated",
    }
}

/// Whether an outcome reads as a failure (for its badge).
pub(super) fn failed(outcome: &str) -> bool {
    !outcome.starts_with("success")
}

/// An audit event as a table row.
pub struct EventRow {
    pub(super) at: String,
    pub(super) kind: &'static str,
    pub(super) label: &'static str,
    pub(super) user: Option<Who>,
    /// Shown when someone else acted (an administrator).
    pub(super) actor: Option<Who>,
    pub(super) ip: String,
    pub(super) user_agent: String,
    pub(super) outcome: String,
    pub(super) failed: bool,
}

/// An account an event names: its email, or a short id once deleted.
pub struct Who {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) exists: bool,
}

/// The accounts `events` name, looked up once each.
pub(super) async fn names(
    app: &AppState,
    events: &[AuditEvent],
) -> Result<HashMap<Uuid, String>, WebError> {
    let mut out = HashMap::new();
    // Collected first: an iterator with closures held across `.await`
    // makes the handler's future not `Send`.
    let mut ids: Vec<Uuid> = Vec::new();
    for e in events {
        ids.extend(e.user_id);
        ids.extend(e.actor_id);
    }
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(u) = app
            .accounts
            .store
            .user_by_id(id)
            .await
            .map_err(Error::from)?
        {
            out.insert(id, u.email);
        }
    }
    Ok(out)
}

pub(super) fn who(id: Option<Uuid>, names: &HashMap<Uuid, String>) -> Option<Who> {
    let id = id?;
    let name = names.get(&id).cloned();
    let short: String = id.to_string().chars().take(8).collect();
    Some(Who {
        id: id.to_string(),
        exists: name.is_some(),
        name: name.unwrap_or_else(|| format!("deleted account {short}…")),
    })
}

pub(super) async fn event_rows(
    app: &AppState,
    events: Vec<AuditEvent>,
) -> Result<Vec<EventRow>, WebError> {
    let names = names(app, &events).await?;
    Ok(events
        .into_iter()
        .map(|e| EventRow {
            at: day_second(e.at),
            kind: e.kind.as_str(),
            label: kind_label(e.kind),
            user: who(e.user_id, &names),
            actor: who(e.actor_id.filter(|a| Some(*a) != e.user_id), &names),
            ip: e.ip.unwrap_or_default(),
            user_agent: e
                .user_agent
                .map(|ua| ua.chars().take(80).collect())
                .unwrap_or_default(),
            failed: failed(&e.outcome),
            outcome: e.outcome,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_label() {
        let labels: std::collections::HashSet<_> =
            AuditKind::ALL.into_iter().map(kind_label).collect();
        assert_eq!(labels.len(), AuditKind::ALL.len());
        assert!(failed("failure: wrong password"));
        assert!(!failed("success: forced by administrator"));
    }
}
