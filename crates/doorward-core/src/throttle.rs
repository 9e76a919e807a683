//! Login throttling (CONTRACT "Abuse protection"), the pure part: which keys
//! a login attempt counts against, how long a key stays blocked, and who may
//! pass a blocked account anyway. `gate` applies it inside `Accounts::login`;
//! the state lives in the database (`Store::record_login_failure`), so every
//! instance on one database counts together.
//!
//! - Keys: `acct:<user id>` for an existing account, `login:<sha256>` of the
//!   normalised identifier for one that does not exist (so an unknown email is
//!   throttled exactly like a known one: the answers cannot tell them apart),
//!   and `ip:<address>` for the client (IPv6 by its /64, which one host
//!   usually holds whole).
//! - Counting: a key's failures count from its first failure for `window`;
//!   once it is blocked they keep counting until `window` has passed after
//!   the block ended (so an attacker who waits out each block never gets a
//!   fresh count).
//! - Backoff: the failure that reaches the threshold, and each after it,
//!   blocks the key for `base × 2^(failures − threshold)`, `base` being 1/30
//!   of the window (at least 1 s), never longer than the window: with the
//!   defaults 30 s, 1 min, 2 min, ... up to 15 min.
//! - No lockout for good: a block never outlasts the window; the right
//!   password from a network the account started a session from in the last
//!   `known_ip_for` passes the account's block (not the IP's); a password
//!   reset clears the account's count (`Accounts::clear_login_throttle`).

mod gate;

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Whether a key counts an account's failures or a client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An existing account, or an identifier no account has.
    Account,
    /// A client IP (or IPv6 /64).
    Ip,
}

/// What failures are counted against: the string is the stored key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    kind: KeyKind,
    key: String,
}

impl ThrottleKey {
    /// An existing account: `acct:<uuid>`.
    pub fn account(user_id: Uuid) -> ThrottleKey {
        ThrottleKey {
            kind: KeyKind::Account,
            key: format!("acct:{}", user_id.hyphenated()),
        }
    }

    /// An identifier that names no account: `login:<hex sha256>` of
    /// `field:normalised` (hashed so typed garbage and other people's
    /// addresses are not kept as such).
    pub fn identifier(field: &str, normalised: &str) -> ThrottleKey {
        let digest = Sha256::digest(format!("{field}:{normalised}").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        ThrottleKey {
            kind: KeyKind::Account,
            key: format!("login:{hex}"),
        }
    }

    /// A client: `ip:1.2.3.4`, or `ip:2001:db8:1:2::/64`.
    pub fn ip(ip: IpAddr) -> ThrottleKey {
        let key = match network(ip) {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => format!("ip:{v6}/64"),
        };
        ThrottleKey {
            kind: KeyKind::Ip,
            key,
        }
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl AsRef<str> for ThrottleKey {
    fn as_ref(&self) -> &str {
        &self.key
    }
}

/// What the store keeps per key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleRecord {
    pub key: String,
    /// Failures in the current count (see the module docs).
    pub failures: u32,
    /// The first failure of the current count.
    pub window_start: OffsetDateTime,
    /// Set once the count reached the threshold; kept after it passed (it
    /// decides when the count is forgotten).
    pub blocked_until: Option<OffsetDateTime>,
}

/// `throttle.*` of the configuration, plus how long a network stays known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one account (or unknown identifier) that block it.
    pub account_failures: u32,
    /// Failures from one client IP that block it.
    pub ip_failures: u32,
    pub window: Duration,
    /// A network the account started a session from within this long is
    /// "known": the right password from it passes the account's block.
    pub known_ip_for: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            account_failures: 5,
            ip_failures: 50,
            window: Duration::minutes(15),
            known_ip_for: Duration::days(30),
        }
    }
}

/// Why an attempt is refused, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The blocked keys.
    pub keys: Vec<String>,
    /// Until the last of them is free, in whole seconds (at least 1).
    pub retry_after_secs: u64,
}

impl ThrottlePolicy {
    pub fn threshold(&self, kind: KeyKind) -> u32 {
        match kind {
            KeyKind::Account => self.account_failures,
            KeyKind::Ip => self.ip_failures,
        }
    }

    /// The first block: 1/30 of the window, at least 1 s (never more than the window).
    fn base(&self) -> Duration {
        (self.window / 30_i32)
            .max(Duration::SECOND)
            .min(self.window)
    }

    /// How long the `failures`-th failure blocks a key of `kind`; `None`
    /// below the threshold.
    pub fn block_for(&self, kind: KeyKind, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold(kind))?;
        let base_ms = i64::try_from(self.base().whole_milliseconds()).unwrap_or(i64::MAX);
        let factor = 1_i64 << over.min(40);
        let window_ms = i64::try_from(self.window.whole_milliseconds()).unwrap_or(i64::MAX);
        Some(Duration::milliseconds(
            base_ms.saturating_mul(factor).min(window_ms),
        ))
    }

    /// When the `failures`-th failure at `now` lifts its block.
    pub fn blocked_until(
        &self,
        kind: KeyKind,
        failures: u32,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        self.block_for(kind, failures).map(|d| now + d)
    }

    /// A record whose `max(blocked_until, window_start)` is at or before
    /// this is forgotten: its next failure starts a new count, and the
    /// background prune deletes it.
    pub fn stale_before(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window
    }

    /// The refusal at `now`, if any of `records` is blocked.
    pub fn refusal(&self, records: &[ThrottleRecord], now: OffsetDateTime) -> Option<Refusal> {
        let blocked: Vec<(&str, OffsetDateTime)> = records
            .iter()
            .filter_map(|r| r.blocked_until.map(|u| (r.key.as_str(), u)))
            .filter(|(_, until)| *until > now)
            .collect();
        let last = blocked.iter().map(|(_, until)| *until).max()?;
        Some(Refusal {
            keys: blocked.iter().map(|(k, _)| (*k).to_owned()).collect(),
            retry_after_secs: retry_after_secs(last, now),
        })
    }
}

/// Whole seconds from `now` until `until`, rounded up, at least 1
/// (`Retry-After` is always whole seconds).
pub fn retry_after_secs(until: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let ms = (until - now).whole_milliseconds().max(0);
    u64::try_from(ms.div_euclid(1000) + i128::from(ms % 1000 != 0))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The network an address stands for: itself for IPv4 (IPv4-mapped IPv6
/// included), the /64 for IPv6.
fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// Whether two addresses are on the same network in the sense of `network`.
pub fn same_network(a: IpAddr, b: IpAddr) -> bool {
    network(a) == network(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    #[test]
    fn default_backoff_doubles_from_30s_up_to_the_window() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.block_for(KeyKind::Account, 4), None);
        let secs: Vec<i64> = (5..=12)
            .map(|f| p.block_for(KeyKind::Account, f).unwrap().whole_seconds())
            .collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(p.block_for(KeyKind::Ip, 49), None);
        assert_eq!(p.block_for(KeyKind::Ip, 50), Some(Duration::seconds(30)));
        // Huge counts neither overflow nor exceed the window.
        assert_eq!(
            p.block_for(KeyKind::Ip, u32::MAX),
            Some(Duration::minutes(15))
        );
    }

    #[test]
    fn a_short_window_keeps_blocks_short() {
        let p = ThrottlePolicy {
            account_failures: 1,
            window: Duration::seconds(2),
            ..ThrottlePolicy::default()
        };
        assert_eq!(p.block_for(KeyKind::Account, 1), Some(Duration::SECOND));
        assert_eq!(p.block_for(KeyKind::Account, 2), Some(Duration::seconds(2)));
        assert_eq!(p.block_for(KeyKind::Account, 9), Some(Duration::seconds(2)));
        let tiny = ThrottlePolicy {
            window: Duration::milliseconds(300),
            ..p
        };
        assert_eq!(
            tiny.block_for(KeyKind::Account, 1),
            Some(Duration::milliseconds(300))
        );
    }

    #[test]
    fn refusal_waits_for_the_last_blocked_key_in_whole_seconds() {
        let p = ThrottlePolicy::default();
        let rec = |key: &str, until: Option<OffsetDateTime>| ThrottleRecord {
            key: key.to_owned(),
            failures: 9,
            window_start: T0,
            blocked_until: until,
        };
        let records = [
            rec("acct:a", Some(T0 + Duration::milliseconds(1500))),
            rec("ip:b", Some(T0 + Duration::seconds(40))),
            rec("ip:c", Some(T0)),
            rec("login:d", None),
        ];
        let r = p.refusal(&records, T0).unwrap();
        assert_eq!(r.keys, ["acct:a", "ip:b"]);
        assert_eq!(r.retry_after_secs, 40);
        let r = p.refusal(&records, T0 + Duration::seconds(39)).unwrap();
        assert_eq!((r.keys.len(), r.retry_after_secs), (1, 1));
        assert_eq!(p.refusal(&records, T0 + Duration::seconds(40)), None);
        assert_eq!(retry_after_secs(T0 + Duration::milliseconds(1001), T0), 2);
        assert_eq!(retry_after_secs(T0 + Duration::milliseconds(1), T0), 1);
        assert_eq!(retry_after_secs(T0, T0 + Duration::SECOND), 1);
    }

    #[test]
    fn keys_are_normalised() {
        let id = Uuid::now_v7();
        assert_eq!(ThrottleKey::account(id).as_str(), format!("acct:{id}"));
        let a = ThrottleKey::identifier("email", "ada@example.com");
        assert_eq!(a, ThrottleKey::identifier("email", "ada@example.com"));
        assert_ne!(a, ThrottleKey::identifier("username", "ada@example.com"));
        assert!(a.as_str().starts_with("login:") && a.as_str().len() == 6 + 64);
        assert!(!a.as_str().contains("ada"));
        assert_eq!(
            ThrottleKey::ip("203.0.113.9".parse().unwrap()).as_str(),
            "ip:203.0.113.9"
        );
        assert_eq!(
            ThrottleKey::ip("::ffff:203.0.113.9".parse().unwrap()).as_str(),
            "ip:203.0.113.9"
        );
        assert_eq!(
            ThrottleKey::ip("2001:db8:1:2:aaaa::1".parse().unwrap()).as_str(),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(ThrottleKey::ip("::1".parse().unwrap()).kind(), KeyKind::Ip);
        assert!(same_network(
            "2001:db8:1:2::1".parse().unwrap(),
            "2001:db8:1:2:ffff::9".parse().unwrap()
        ));
        assert!(!same_network(
            "2001:db8:1:3::1".parse().unwrap(),
            "2001:db8:1:2::1".parse().unwrap()
        ));
        assert!(!same_network(
            "203.0.113.9".parse().unwrap(),
            "203.0.113.10".parse().unwrap()
        ));
    }
}
