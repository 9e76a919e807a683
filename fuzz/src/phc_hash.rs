//! The stored-hash side of `doorward_core::passwords`: `is_supported_hash`
//! (what `doorward import` accepts), PHC parsing and `is_weaker` (the rehash
//! decision), and `PasswordHasher::verify` on the stored string (what every
//! login runs), for arbitrary strings.
//!
//! Input: the stored hash (lossy UTF-8: the column is text).
//!
//! Properties: nothing panics; a hash the import accepts is one a login can
//! verify (it parses, its parameters are valid, it has a salt and an
//! output); verification never errors on a bad stored hash, and asks for a
//! rehash only after a match. Verification runs only when the hash's own
//! cost is small (bcrypt cost <= 6, argon2 m <= 1 MiB, t <= 3, p <= 4):
//! the stored string picks the cost.

use std::str::FromStr as _;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
use argon2::{Argon2, Params};
use doorward_core::passwords::{
    is_supported_hash, is_weaker, HashParams, HashPool, PasswordHasher,
};
use doorward_core::types::Password;

/// The password the seeds' real hashes are of.
pub const PASSWORD: &str = "correct horse battery";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    hasher: PasswordHasher,
    password: Password,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let fast = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let hasher = runtime
        .block_on(async { PasswordHasher::new(fast, HashPool::default()) })
        .unwrap();
    Fixture {
        runtime,
        hasher,
        password: Password::parse(PASSWORD, "password").unwrap(),
    }
});

fn is_bcrypt(s: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| s.starts_with(p))
}

pub fn check(data: &[u8]) {
    let stored = String::from_utf8_lossy(data);
    let stored = stored.as_ref();
    let supported = is_supported_hash(stored);

    let mut cheap = true;
    if is_bcrypt(stored) {
        match bcrypt::HashParts::from_str(stored) {
            Ok(parts) => {
                cheap = parts.get_cost() <= 6;
                if supported {
                    assert!((4..=31).contains(&parts.get_cost()), "{stored:?}");
                }
            }
            Err(e) => assert!(
                !supported,
                "import accepts unparseable bcrypt {stored:?}: {e}"
            ),
        }
    } else if let Ok(hash) = PasswordHash::new(stored) {
        let _ = is_weaker(&hash, HashParams::default());
        // argon2 0.5 overflows on `8 * p` for a huge `p` before checking it
        // (Doorward guards its calls the same way: `passwords::argon2_params`).
        let huge_p = hash.params.iter().any(|(name, value)| {
            name.as_str() == "p" && value.decimal().is_ok_and(|p| p > Params::MAX_P_COST)
        });
        let params = (!huge_p).then(|| Params::try_from(&hash).ok()).flatten();
        if let Some(p) = &params {
            cheap = p.m_cost() <= 1024 && p.t_cost() <= 3 && p.p_cost() <= 4;
        }
        if supported {
            assert!(
                ["argon2id", "argon2i", "argon2d"].contains(&hash.algorithm.as_str()),
                "import accepts algorithm {} in {stored:?}",
                hash.algorithm
            );
            assert!(params.is_some(), "import accepts bad parameters {stored:?}");
            assert!(
                hash.salt.is_some() && hash.hash.is_some(),
                "import accepts a hash without salt or output {stored:?}"
            );
            if cheap {
                // A wrong password is a mismatch, never another error.
                let err = Argon2::default()
                    .verify_password(b"\0not the password\0", &hash)
                    .unwrap_err();
                assert_eq!(
                    err,
                    argon2::password_hash::Error::Password,
                    "import accepts a hash argon2 cannot verify {stored:?}"
                );
            }
        }
    } else {
        assert!(!supported || is_bcrypt(stored), "{stored:?}");
    }

    if cheap {
        let fx = &*FIXTURE;
        let verified = fx
            .runtime
            .block_on(fx.hasher.verify(&fx.password, Some(stored)))
            .unwrap();
        assert!(!verified.needs_rehash || verified.ok);
        if supported && is_bcrypt(stored) {
            // Verifiable: bcrypt reads its cost and salt.
            bcrypt::verify(PASSWORD, stored).unwrap();
        }
    }
}
