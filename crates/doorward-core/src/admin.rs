//! The administrator's operations on accounts: list and search, view,
//! disable/enable, set roles, delete, force a password reset (in
//! `lifecycle`). Callers check the `admin` role; this module checks what
//! an administrator may do to their own account.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::{Accounts, ROLE_USER};
use crate::audit::{self, AuditKind, ClientInfo};
use crate::error::{Error, Result};
use crate::store::{UserPatch, UserRecord};
use crate::types::FieldError;

/// Most users one page may hold (CONTRACT.md: `limit` at most 200).
pub const MAX_PAGE: u32 = 200;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;
/// Most roles one account may hold.
const MAX_ROLES: usize = 16;

/// One page of users and where the next one starts.
#[derive(Clone, Debug)]
pub struct UserPage {
    pub items: Vec<UserRecord>,
    /// The last id of this page when more may follow.
    pub next: Option<Uuid>,
}

/// Role names: 1 to 32 of `a-z`, `0-9`, `_`, `-`; de-duplicated, and `user`
/// always included (every account has it).
pub fn parse_roles(raw: &[String]) -> Result<Vec<String>> {
    let bad = || {
        Error::Invalid(vec![FieldError::new(
            "roles",
            "invalid_roles",
            "Roles are 1 to 32 characters of a-z, 0-9, `_` and `-`, at most 16 of them.",
        )])
    };
    if raw.len() > MAX_ROLES {
        return Err(bad());
    }
    let mut roles = vec![ROLE_USER.to_owned()];
    for r in raw {
        let ok = (1..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(bad());
        }
        if !roles.contains(r) {
            roles.push(r.clone());
        }
    }
    Ok(roles)
}

/// Whether two role lists hold the same roles, whatever their order.
fn same_roles(a: &[String], b: &[String]) -> bool {
    fn sorted(r: &[String]) -> Vec<&str> {
        let mut r: Vec<&str> = r.iter().map(String::as_str).collect();
        r.sort_unstable();
        r.dedup();
        r
    }
    sorted(a) == sorted(b)
}

impl Accounts {
    /// Users in creation order, optionally only those whose email or
    /// username contains `query`.
    pub async fn admin_list_users(
        &self,
        query: Option<&str>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<UserPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        let mut items = self.store.list_users(query, after, limit + 1).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = if more {
            items.last().map(|u| u.id)
        } else {
            None
        };
        Ok(UserPage { items, next })
    }

    pub async fn admin_user(&self, id: Uuid) -> Result<UserRecord> {
        self.store.user_by_id(id).await?.ok_or(Error::NotFound)
    }

    /// Disable/enable and set roles. Disabling, or changing the roles,
    /// revokes every session of the user at once. An administrator cannot
    /// disable themselves or drop their own `admin` role.
    pub async fn admin_update_user(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: UserPatch,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<UserRecord> {
        let roles = patch.roles.as_deref().map(parse_roles).transpose()?;
        let before = self.admin_user(id).await?;
        let drops_admin = roles
            .as_ref()
            .is_some_and(|r| !r.iter().any(|r| r == crate::accounts::ROLE_ADMIN));
        if actor == id && (patch.disabled == Some(true) || drops_admin) {
            return Err(Error::OwnAccount);
        }
        let mut events = Vec::new();
        let mut revoke = false;
        let mut event = |kind, outcome: &str| {
            let mut e = audit::event(kind, now, client, Some(id), None, outcome);
            e.actor_id = Some(actor);
            events.push(e);
        };
        match patch.disabled {
            Some(true) if !before.disabled => {
                event(AuditKind::UserDisabled, "success");
                revoke = true;
            }
            Some(false) if before.disabled => event(AuditKind::UserEnabled, "success"),
            _ => {}
        }
        // The same roles in another order are no change: nothing is
        // written, audited or revoked.
        let roles = roles.filter(|r| !same_roles(r, &before.roles));
        if let Some(r) = &roles {
            event(
                AuditKind::RolesChanged,
                &format!("success: roles {}", r.join(",")),
            );
            revoke = true;
        }
        let patch = UserPatch {
            disabled: patch.disabled,
            roles,
        };
        let (user, revoked) = self
            .store
            .update_user(id, &patch, revoke, now, &events)
            .await?;
        self.profiles.forget(id);
        self.revocations.revoked(&revoked, now);
        Ok(user)
    }

    /// Delete an account (its sessions end at once; the audit log keeps its id).
    pub async fn admin_delete_user(
        &self,
        actor: Uuid,
        id: Uuid,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        if actor == id {
            return Err(Error::OwnAccount);
        }
        let mut event = audit::event(
            AuditKind::UserDeleted,
            now,
            client,
            Some(id),
            None,
            "success",
        );
        event.actor_id = Some(actor);
        let revoked = self.store.delete_user(id, now, &event).await?;
        self.profiles.forget(id);
        self.revocations.revoked(&revoked, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_checked_deduplicated_and_always_include_user() {
        let r = |v: &[&str]| parse_roles(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r(&["admin", "admin"]).unwrap(), vec!["user", "admin"]);
        assert_eq!(r(&[]).unwrap(), vec!["user"]);
        assert!(r(&["Admin"]).is_err());
        assert!(r(&[""]).is_err());
        assert!(r(&["a b"]).is_err());
        assert!(r(&["<script>"]).is_err());
        let many: Vec<String> = (0..17).map(|i| format!("r{i}")).collect();
        assert!(parse_roles(&many).is_err());
    }

    #[test]
    fn the_same_roles_in_another_order_are_the_same() {
        let v = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_roles(
            &v(&["user", "support", "admin"]),
            &v(&["user", "admin", "support"])
        ));
        assert!(!same_roles(&v(&["user", "admin"]), &v(&["user"])));
        assert!(!same_roles(
            &v(&["user", "admin"]),
            &v(&["user", "support"])
        ));
    }
}
