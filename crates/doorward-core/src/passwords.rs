//! Password hashing and policy.
//!
//! Argon2id in PHC format; imported bcrypt hashes verify and are upgraded on
//! the next successful login. Hashing is CPU- and memory-heavy, so it runs on
//! a fixed set of low-priority threads (`hash_pool`), each reusing one argon2
//! memory block, behind a bounded queue: when the queue is full the caller
//! gets `Error::Busy` (503 + Retry-After) instead of the server queueing
//! without limit (OWASP ASVS 2.4, NIST SP 800-63B 5.1.1.2).

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::error::{Error, Result};
use crate::hash_pool::{Admission, HashThreads, Scratch};
use crate::types::{Email, Password, Username};

/// Argon2id cost parameters (OWASP's minimum recommendation by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    fn argon2_params(&self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))
    }

    /// Check that argon2 accepts these parameters (for config validation).
    pub fn validate(&self) -> std::result::Result<(), String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The result of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash is bcrypt or weaker argon2 than configured: re-hash now.
    pub needs_rehash: bool,
}

/// Bounds: how many hashes run at once (one thread each), and how many may wait.
#[derive(Clone, Copy, Debug)]
pub struct HashPool {
    pub max_in_flight: usize,
    pub max_queued: usize,
}

impl Default for HashPool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        HashPool {
            max_in_flight: cores,
            max_queued: cores * 32,
        }
    }
}

/// A place in the hash queue for one verification ([`PasswordHasher::admit`]).
pub struct HashTicket(Admission);

/// Hashes and verifies passwords on the hash threads.
pub struct PasswordHasher {
    params: HashParams,
    argon_params: Params,
    threads: HashThreads,
    /// A real hash of a random password, verified when the user is unknown so
    /// that "no such user" costs the same time as "wrong password".
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: HashParams, pool: HashPool) -> Result<Self> {
        let argon_params = params.argon2_params()?;
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        // On the calling thread, with memory that is freed at once: the hash
        // threads allocate theirs on their first job.
        let mut scratch = Scratch::new(0);
        let dummy_hash = hash_with(&argon_params, &random, &mut scratch)?;
        let threads = HashThreads::start(
            pool.max_in_flight,
            pool.max_queued,
            argon_params.block_count(),
        )?;
        Ok(PasswordHasher {
            params,
            argon_params,
            threads,
            dummy_hash,
        })
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hash a new password (argon2id, PHC string).
    #[tracing::instrument(skip_all)]
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let params = self.argon_params.clone();
        let secret = password.expose().as_bytes().to_vec();
        self.threads
            .run(move |scratch| hash_with(&params, &secret, scratch))
            .await?
    }

    /// Verify `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown user): same work either way.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verified> {
        let ticket = self.admit()?;
        self.verify_admitted(ticket, password, stored).await
    }

    /// A place for one hash in the queue, taken before the work that leads
    /// up to it (a login's lookups), or `Error::Busy` at once when the queue
    /// is full: during a flood a refusal then costs no database read.
    pub fn admit(&self) -> Result<HashTicket> {
        self.threads.admit().map(HashTicket)
    }

    /// [`verify`](Self::verify) in a place taken by [`admit`](Self::admit).
    #[tracing::instrument(skip_all)]
    pub async fn verify_admitted(
        &self,
        ticket: HashTicket,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let secret = password.expose().as_bytes().to_vec();
        let params = self.params;
        let verified = self
            .threads
            .run_admitted(ticket.0, move |scratch| {
                verify_with(params, &secret, &stored, scratch)
            })
            .await?;
        Ok(Verified {
            ok: known && verified.ok,
            needs_rehash: known && verified.ok && verified.needs_rehash,
        })
    }

    /// Run any job on the hash threads (tests of the queue bound).
    #[cfg(test)]
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T> {
        self.threads.run(job).await
    }
}

/// Argon2 of `secret` with `salt` (raw bytes) into a PHC output, in memory
/// from `scratch`.
fn argon2_output(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    secret: &[u8],
    salt: &[u8],
    scratch: &mut Scratch,
) -> std::result::Result<Output, argon2::password_hash::Error> {
    let argon = Argon2::new(algorithm, version, params.clone());
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let memory = scratch.blocks(params.block_count());
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(secret, salt, out, memory)
            .map_err(Into::into)
    })
}

/// A new argon2id PHC string for `secret` with a random salt.
fn hash_with(params: &Params, secret: &[u8], scratch: &mut Scratch) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt_string =
        SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("salt: {e}")))?;
    let internal = |e: argon2::password_hash::Error| Error::Internal(format!("argon2: {e}"));
    let output = argon2_output(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        secret,
        &salt,
        scratch,
    )
    .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `secret` matches the argon2 PHC hash `parsed` (constant-time
/// comparison of the outputs). Anything unparseable is a mismatch.
fn argon2_matches(parsed: &PasswordHash<'_>, secret: &[u8], scratch: &mut Scratch) -> bool {
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Some(params) = argon2_params(parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    argon2_output(algorithm, version, &params, secret, salt, scratch)
        // `Output`'s equality is constant-time.
        .is_ok_and(|computed| computed == expected)
}

/// Pure verification; an unparseable stored hash never matches.
fn verify_with(params: HashParams, secret: &[u8], stored: &str, scratch: &mut Scratch) -> Verified {
    if is_bcrypt(stored) {
        let ok = bcrypt::verify(secret, stored).unwrap_or(false);
        return Verified {
            ok,
            needs_rehash: true,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = argon2_matches(&parsed, secret, scratch);
    Verified {
        ok,
        needs_rehash: ok && is_weaker(&parsed, params),
    }
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

/// True when `hash` is not argon2id or any cost is below `target`.
pub fn is_weaker(hash: &PasswordHash<'_>, target: HashParams) -> bool {
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    match argon2_params(hash) {
        Some(p) => {
            p.m_cost() < target.memory_kib
                || p.t_cost() < target.iterations
                || p.p_cost() < target.parallelism
        }
        None => true,
    }
}

/// The argon2 parameters of `hash`, when valid. argon2 0.5 computes `8 * p`
/// before it checks `p`, which overflows for `p` >= 2^29 (a panic where
/// overflow checks are on: debug builds and tests); such a `p` is refused
/// here first. Found by the fuzz target `phc_hash`.
/// Every `p` counts: a PHC string may repeat a parameter, and argon2 reads
/// the last one.
fn argon2_params(hash: &PasswordHash<'_>) -> Option<Params> {
    let huge_p = hash.params.iter().any(|(name, value)| {
        name.as_str() == "p" && value.decimal().is_ok_and(|p| p > Params::MAX_P_COST)
    });
    if huge_p {
        return None;
    }
    Params::try_from(hash).ok()
}

/// Whether a stored hash is one Doorward can verify (for imports): a bcrypt
/// hash bcrypt can read (cost 4 to 31, a 16-byte salt and a 23-byte output
/// in bcrypt's base64), or an argon2 PHC string argon2 can verify (a known
/// variant and version, valid parameters, a salt of at least 8 bytes, an
/// output). Anything else would import an account no password opens.
/// Checks the format only; no hashing.
pub fn is_supported_hash(stored: &str) -> bool {
    if is_bcrypt(stored) {
        return stored.len() == 60 && bcrypt_verifiable(stored);
    }
    PasswordHash::new(stored).is_ok_and(|h| argon2_verifiable(&h))
}

/// What `bcrypt::verify` reads before hashing: cost, salt and output.
fn bcrypt_verifiable(stored: &str) -> bool {
    use base64::Engine as _;
    let Ok(parts) = stored.parse::<bcrypt::HashParts>() else {
        return false;
    };
    let salt = bcrypt::BASE_64.decode(parts.get_salt());
    // The output is the last 31 characters (after the 22 of the salt).
    let output = stored
        .get(stored.len().saturating_sub(31)..)
        .map(|o| bcrypt::BASE_64.decode(o));
    (4..=MAX_IMPORT_BCRYPT_COST).contains(&parts.get_cost())
        && salt.is_ok_and(|s| s.len() == 16)
        && matches!(output, Some(Ok(o)) if o.len() == 23)
}

/// The most an imported hash may make one login spend. A stored hash sets
/// its own cost, so without a bound an import file could hold an account
/// whose every login takes gigabytes (argon2 `m`) or hours (bcrypt cost 31)
/// on a hash thread. argon2: 256 MiB and 64 passes; bcrypt: cost 16 (16
/// times the work of the common cost 12: a few seconds per login).
pub const MAX_IMPORT_MEMORY_KIB: u32 = 262_144;
pub const MAX_IMPORT_ITERATIONS: u32 = 64;
pub const MAX_IMPORT_BCRYPT_COST: u32 = 16;

/// What argon2's `verify_password` checks before hashing, and a cost within
/// the import bounds.
fn argon2_verifiable(hash: &PasswordHash<'_>) -> bool {
    let mut salt = [0u8; 64];
    Algorithm::try_from(hash.algorithm).is_ok()
        && hash.version.is_none_or(|v| Version::try_from(v).is_ok())
        && argon2_params(hash).is_some_and(|p| {
            p.m_cost() <= MAX_IMPORT_MEMORY_KIB && p.t_cost() <= MAX_IMPORT_ITERATIONS
        })
        && hash.hash.is_some()
        && hash
            .salt
            .is_some_and(|s| s.decode_b64(&mut salt).is_ok_and(|s| s.len() >= 8))
}

/// A source of passwords that must be refused (common or breached lists).
/// Implementations arrive with the password-policy work; the policy accepts any.
pub trait Blocklist: Send + Sync {
    /// `Some(reason)` when `password` (NFKC-normalised) is listed.
    fn reason(&self, password: &str) -> Option<String>;
}

/// The password policy: length (in `Password::parse`), no email or username
/// inside the password, and the blocklists. No composition rules (NIST
/// SP 800-63B 5.1.1.2).
#[derive(Clone, Default)]
pub struct PasswordPolicy {
    blocklists: Vec<Arc<dyn Blocklist>>,
}

impl PasswordPolicy {
    pub fn with_blocklist(mut self, list: Arc<dyn Blocklist>) -> Self {
        self.blocklists.push(list);
        self
    }

    /// Refusals name the field `password`; callers whose field is named
    /// otherwise rename it (see `lifecycle`).
    pub fn check(
        &self,
        password: &Password,
        email: &Email,
        username: Option<&Username>,
    ) -> Result<()> {
        let lower = password.expose().to_lowercase();
        if lower.contains(email.as_str()) {
            return Err(weak(
                "The password must not contain your email address.".into(),
            ));
        }
        if let Some(u) = username {
            if lower.contains(u.as_str()) {
                return Err(weak("The password must not contain your username.".into()));
            }
        }
        for list in &self.blocklists {
            if let Some(reason) = list.reason(password.expose()) {
                return Err(weak(reason));
            }
        }
        Ok(())
    }
}

fn weak(reason: String) -> Error {
    Error::WeakPassword {
        field: "password",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashParams {
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn pw(s: &str) -> Password {
        Password::parse(s, "password").unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let stored = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let ok = h
            .verify(&pw("correct horse battery"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = h
            .verify(&pw("wrong horse battery"), Some(&stored))
            .await
            .unwrap();
        assert!(!bad.ok);
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let stock = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        // Ours verifies with the crate's own verifier...
        let ours = h.hash(&pw("correct horse battery")).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(stock
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(stock
            .verify_password(b"correct horse batterY", &parsed)
            .is_err());
        // ...and the crate's hashes (any argon2 variant and version, other
        // costs, longer outputs) verify with ours.
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        for (alg, ver, params) in [
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(1024, 1, 1, None),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(2048, 3, 2, Some(64)),
            ),
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(512, 2, 1, None),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x13,
                Params::new(256, 1, 1, None),
            ),
        ] {
            let theirs = Argon2::new(alg, ver, params.unwrap())
                .hash_password(b"legacy secret", &salt)
                .unwrap()
                .to_string();
            let v = h.verify(&pw("legacy secret"), Some(&theirs)).await.unwrap();
            assert!(v.ok, "{theirs}");
            let v = h.verify(&pw("legacy secreT"), Some(&theirs)).await.unwrap();
            assert!(!v.ok, "{theirs}");
        }
    }

    #[test]
    fn same_salt_same_hash_as_the_argon2_crate() {
        use argon2::password_hash::PasswordHasher as _;
        let params = Params::new(1024, 2, 1, None).unwrap();
        let salt = *b"sixteen byte sal";
        let mut scratch = Scratch::new(params.block_count());
        let ours = argon2_output(
            Algorithm::Argon2id,
            Version::V0x13,
            &params,
            b"pw",
            &salt,
            &mut scratch,
        )
        .unwrap();
        // Twice through the same kept memory: the block left behind does not matter.
        let again = argon2_output(
            Algorithm::Argon2id,
            Version::V0x13,
            &params,
            b"pw",
            &salt,
            &mut scratch,
        )
        .unwrap();
        let salt_string = SaltString::encode_b64(&salt).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt_string)
            .unwrap();
        assert_eq!(Some(ours), theirs.hash);
        assert_eq!(ours, again);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let v = h.verify(&pw("anything at all"), None).await.unwrap();
        assert!(!v.ok && !v.needs_rehash);
    }

    #[tokio::test]
    async fn default_params_are_owasp_minimum() {
        assert_eq!(
            HashParams::default(),
            HashParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }

    #[tokio::test]
    async fn weaker_stored_hash_asks_for_rehash() {
        let weak = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let stored = weak.hash(&pw("correct horse battery")).await.unwrap();
        let strong = PasswordHasher::new(
            HashParams {
                memory_kib: 2048,
                iterations: 2,
                parallelism: 1,
            },
            HashPool::default(),
        )
        .unwrap();
        let v = strong
            .verify(&pw("correct horse battery"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        // A wrong password never asks for a rehash.
        let v = strong
            .verify(&pw("wrong horse battery"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_for_rehash() {
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let stored = bcrypt::hash("legacy password", 4).unwrap();
        assert!(is_supported_hash(&stored));
        let v = h
            .verify(&pw("legacy password"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        let v = h
            .verify(&pw("legacy passw0rd"), Some(&stored))
            .await
            .unwrap();
        assert!(!v.ok);
    }

    /// Found by the fuzz target `phc_hash`: the import took any 60-character
    /// `$2b$` string and any PHC string naming argon2, so it created
    /// accounts no password could open.
    #[tokio::test]
    async fn import_refuses_hashes_no_login_can_verify() {
        let bcrypt4 = bcrypt::hash("correct horse battery", 4).unwrap();
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let argon = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(is_supported_hash(&bcrypt4));
        assert!(is_supported_hash(&argon));
        assert!(is_supported_hash(
            "$argon2i$v=19$m=64,t=1,p=1$CQkJCQkJCQkJCQkJCQkJCQ$EkMjp/1PBkD/cG+To4fu6koH0i9eyHn4xlY52OuefBA"
        ));
        for bad in [
            // The fuzzer's: `-` is not bcrypt base64.
            "$2b$04$/uaF/uaF/uaF/uaF/uaF/uxCvjhcOEqoNamxwA-UOMNRBDpe4a/lG",
            // The last character carries bits the salt/output does not have.
            "$2y$04$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234",
            // Cost outside 4..=16 (17 and up: seconds to hours per login).
            "$2b$03$/uaF/uaF/uaF/uaF/uaF/uxCvjhcOEqoNamxwA.UGMNRBDpe9a/lG",
            "$2b$17$/uaF/uaF/uaF/uaF/uaF/uxCvjhcOEqoNamxwA.UGMNRBDpe9a/lG",
            "$2b$31$/uaF/uaF/uaF/uaF/uaF/uxCvjhcOEqoNamxwA.UGMNRBDpe9a/lG",
            "$2b$32$/uaF/uaF/uaF/uaF/uaF/uxCvjhcOEqoNamxwA.UGMNRBDpe9a/lG",
            // argon2 costs beyond the import bounds: 4 GiB, 100 passes.
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=64,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            // No output, no salt, a salt under 8 bytes, invalid parameters,
            // an unknown version, not an argon2 variant.
            "$argon2i$v=19$m=64,t=1,p=1,keyid=AAAA$c2FsdHNhbHQ",
            "$argon2id$v=19$m=64,t=1,p=1",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(!is_supported_hash(bad), "{bad}");
        }
    }

    /// Found by the fuzz target `phc_hash` (`$a$p=988181980`): argon2's
    /// parameter check multiplied `p` by 8 and overflowed, a panic in debug
    /// builds, on every path that reads a stored hash's parameters.
    #[tokio::test]
    async fn huge_parallelism_is_refused_not_a_panic() {
        let stored = "$argon2id$v=19$m=65536,t=1,p=988181980$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(!is_supported_hash(stored));
        assert!(!is_supported_hash("$a$p=988181980"));
        // The second finding: a repeated `p`, of which argon2 reads the last.
        let repeated =
            "$argon2id$v=19$m=65536,t=1,p=1,p=988181980$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(!is_supported_hash(repeated));
        assert!(!is_supported_hash("$argon2id$p=6,p=666666666$COuefBA"));
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        let v = h.verify(&pw("correct horse battery"), Some(repeated)).await;
        assert!(!v.unwrap().ok);
        assert!(is_weaker(
            &PasswordHash::new(stored).unwrap(),
            HashParams::default()
        ));
        let v = h.verify(&pw("correct horse battery"), Some(stored)).await;
        assert_eq!(
            v.unwrap(),
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn garbage_stored_hash_never_matches() {
        let h = PasswordHasher::new(fast(), HashPool::default()).unwrap();
        for s in ["", "$argon2id$", "$2b$10$short", "plaintext"] {
            assert!(
                !h.verify(&pw("plaintext"), Some(s)).await.unwrap().ok,
                "{s:?}"
            );
        }
    }

    #[tokio::test]
    async fn full_queue_answers_busy() {
        let h = Arc::new(
            PasswordHasher::new(
                fast(),
                HashPool {
                    max_in_flight: 1,
                    max_queued: 0,
                },
            )
            .unwrap(),
        );
        // Hold the only slot with a job that waits on a channel.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h2 = h.clone();
        let blocker = tokio::spawn(async move { h2.run(move |_| rx.recv().ok()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let err = h.hash(&pw("correct horse battery")).await.unwrap_err();
        assert!(matches!(
            err,
            Error::Busy {
                retry_after_secs: 1
            }
        ));
        tx.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert!(h.hash(&pw("correct horse battery")).await.is_ok());
    }

    #[tokio::test]
    async fn a_ticket_holds_its_place_until_used_or_dropped() {
        let h = PasswordHasher::new(
            fast(),
            HashPool {
                max_in_flight: 1,
                max_queued: 1,
            },
        )
        .unwrap();
        let first = h.admit().unwrap();
        let second = h.admit().unwrap();
        // Both places are taken: a third caller is refused before any work.
        assert!(matches!(h.admit(), Err(Error::Busy { .. })));
        assert!(matches!(
            h.verify(&pw("anything at all"), None).await,
            Err(Error::Busy { .. })
        ));
        drop(second);
        let third = h.admit().unwrap();
        drop(third);
        // A ticket's verification is an ordinary one, and gives the place back.
        let stored = h.hash(&pw("correct horse battery")).await.unwrap();
        let v = h
            .verify_admitted(first, &pw("correct horse battery"), Some(&stored))
            .await
            .unwrap();
        assert!(v.ok);
        let again = (h.admit().unwrap(), h.admit().unwrap());
        drop(again);
    }

    #[test]
    fn policy_refuses_email_and_username_inside() {
        let p = PasswordPolicy::default();
        let email = Email::parse("alice@example.com").unwrap();
        let user = Username::parse("alice99").unwrap();
        assert!(p.check(&pw("xxALICE@example.comxx"), &email, None).is_err());
        assert!(p.check(&pw("my-alice99-pw"), &email, Some(&user)).is_err());
        assert!(p
            .check(&pw("correct horse battery"), &email, Some(&user))
            .is_ok());
    }

    #[test]
    fn policy_consults_blocklists() {
        struct One;
        impl Blocklist for One {
            fn reason(&self, p: &str) -> Option<String> {
                (p == "password123").then(|| "This password is too common.".into())
            }
        }
        let p = PasswordPolicy::default().with_blocklist(Arc::new(One));
        let email = Email::parse("a@example.com").unwrap();
        assert!(matches!(
            p.check(&pw("password123"), &email, None),
            Err(Error::WeakPassword { .. })
        ));
    }
}
