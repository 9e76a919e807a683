//! The throttle inside `Accounts::login`: check the keys before the password
//! is verified (a blocked key costs no hash), count a failure together with
//! its `login_failed` row, forget the account's count on success.

use std::net::IpAddr;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{same_network, Refusal, ThrottleKey};
use crate::accounts::Accounts;
use crate::audit::{self, AuditKind, ClientInfo};
use crate::error::{Error, Result};
use crate::store::AuditEvent;

/// How many of an account's recent session addresses are compared.
const KNOWN_IPS_LIMIT: u32 = 100;

/// What the check found, for the rest of the login.
pub(crate) struct Gate {
    /// The account (or identifier) key first, then the client's, if any.
    keys: Vec<ThrottleKey>,
    /// The account key has failures on record: a success clears them.
    account_counted: bool,
    /// The account is blocked, but the client's network is one the account
    /// started sessions from: the password is checked anyway, and a wrong
    /// one is answered like any other blocked attempt.
    passing_block: bool,
}

impl Gate {
    fn account_key(&self) -> Option<&ThrottleKey> {
        self.keys.first()
    }
}

impl Accounts {
    /// Refuses the attempt (`TooManyAttempts`, with a `throttled` audit row
    /// at most once per block) when the client or the account is blocked;
    /// the account's block is passed from a known network.
    pub(crate) async fn throttle_gate(
        &self,
        account_key: ThrottleKey,
        user_id: Option<Uuid>,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<Gate> {
        let ip = client.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
        let mut keys = vec![account_key];
        keys.extend(ip.map(ThrottleKey::ip));
        let records = self.store.throttle_state(&keys).await?;
        let account = keys
            .first()
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default();
        let mut gate = Gate {
            account_counted: records.iter().any(|r| r.key == account),
            keys,
            passing_block: false,
        };
        let Some(refusal) = self.throttle.refusal(&records, now) else {
            return Ok(gate);
        };
        let only_account = refusal.keys.iter().all(|k| *k == account);
        if let (true, Some(user_id), Some(ip)) = (only_account, user_id, ip) {
            if self.known_network(user_id, ip, now).await? {
                gate.passing_block = true;
                return Ok(gate);
            }
        }
        Err(self
            .refuse(&refusal, only_account, user_id, client, now)
            .await)
    }

    async fn known_network(&self, user_id: Uuid, ip: IpAddr, now: OffsetDateTime) -> Result<bool> {
        let since = now - self.throttle.known_ip_for;
        let ips = self
            .store
            .recent_login_ips(user_id, since, KNOWN_IPS_LIMIT)
            .await?;
        Ok(ips
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .any(|known| same_network(known, ip)))
    }

    async fn refuse(
        &self,
        refusal: &Refusal,
        only_account: bool,
        user_id: Option<Uuid>,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Error {
        metrics::counter!("doorward_logins_total", "outcome" => "throttled").increment(1);
        let outcome = if only_account {
            "failure: too many failed logins for this account"
        } else {
            "failure: too many failed logins from this address"
        };
        let event = audit::event(AuditKind::Throttled, now, client, user_id, None, outcome);
        match self
            .store
            .record_throttled(&refusal.keys, now, &event)
            .await
        {
            Ok(_) => Error::TooManyAttempts {
                retry_after_secs: refusal.retry_after_secs,
            },
            Err(e) => e.into(),
        }
    }

    /// A wrong password or an unknown identifier: counted against every key
    /// in one transaction with the `login_failed` row. Returns the answer.
    pub(crate) async fn throttle_failure(
        &self,
        gate: &Gate,
        user_id: Option<Uuid>,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Error {
        metrics::counter!("doorward_logins_total", "outcome" => "invalid_credentials").increment(1);
        let event = audit::event(
            AuditKind::LoginFailed,
            now,
            client,
            user_id,
            None,
            "failure: invalid credentials",
        );
        match self.count_failure(gate, &event, now).await {
            Ok(Some(retry_after_secs)) => Error::TooManyAttempts { retry_after_secs },
            Ok(None) => Error::InvalidCredentials,
            Err(e) => e,
        }
    }

    /// Counts a failed password check against every key of `gate`, in one
    /// transaction with `event`. `Some(retry_after)` when the attempt is to
    /// be answered as blocked: the account was blocked and only passed from
    /// a known network, and the count still blocks it.
    pub(crate) async fn count_failure(
        &self,
        gate: &Gate,
        event: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<Option<u64>> {
        let records = self
            .store
            .record_login_failure(&gate.keys, &self.throttle, now, event)
            .await?;
        Ok(match self.throttle.refusal(&records, now) {
            Some(r) if gate.passing_block => Some(r.retry_after_secs),
            _ => None,
        })
    }

    /// A successful login forgets the account's failures (never the
    /// client's: one's own account must not reset an address's count).
    pub(crate) async fn throttle_success(&self, gate: &Gate) {
        let Some(key) = gate.account_key().filter(|_| gate.account_counted) else {
            return;
        };
        if let Err(e) = self.store.clear_throttle(key.as_str()).await {
            tracing::warn!(error = %e, "could not clear the account's failed-login count");
        }
    }

    /// Forget the account's failed logins (after a password reset: whoever
    /// holds the reset link owns the account, whatever an attacker tried).
    pub async fn clear_login_throttle(&self, user_id: Uuid) -> Result<()> {
        self.store
            .clear_throttle(ThrottleKey::account(user_id).as_str())
            .await?;
        Ok(())
    }
}
