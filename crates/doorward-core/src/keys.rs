//! Signing keys: created on first start, rotated by the operator, kept in the
//! database. Private keys are sealed with ChaCha20-Poly1305 when
//! `keys.encryption_key` is configured; otherwise stored in the clear (the
//! server warns at start). The frame says which, so a database written
//! without a key and later given one still loads.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use doorward_token::{Algorithm, Jwk, Jwks, SigningKey};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::store::{KeyRecord, Store};

const CLEAR: &[u8; 4] = b"DWK0";
const SEALED: &[u8; 4] = b"DWK1";

/// Seals and opens private keys for storage.
pub struct KeyVault {
    key: Option<SecretBox<[u8; 32]>>,
}

impl KeyVault {
    /// `None`: keys are stored in the clear.
    pub fn new(key: Option<[u8; 32]>) -> Self {
        KeyVault {
            key: key.map(|k| SecretBox::new(Box::new(k))),
        }
    }

    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    pub fn seal(&self, pkcs8: &[u8]) -> Result<Vec<u8>> {
        let Some(key) = &self.key else {
            return Ok([CLEAR.as_slice(), pkcs8].concat());
        };
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.expose_secret()));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), pkcs8)
            .map_err(|_| Error::Internal("sealing a signing key failed".into()))?;
        Ok([SEALED.as_slice(), &nonce, &sealed].concat())
    }

    pub fn open(&self, stored: &[u8]) -> Result<Vec<u8>> {
        let (tag, rest) = stored
            .split_at_checked(4)
            .ok_or_else(|| Error::Internal("stored key is truncated".into()))?;
        if tag == CLEAR {
            return Ok(rest.to_vec());
        }
        if tag != SEALED {
            return Err(Error::Internal("stored key has an unknown format".into()));
        }
        let Some(key) = &self.key else {
            return Err(Error::Internal(
                "signing keys in the database are encrypted: set keys.encryption_key (DOORWARD_KEYS_ENCRYPTION_KEY)".into(),
            ));
        };
        let (nonce, sealed) = rest
            .split_at_checked(12)
            .ok_or_else(|| Error::Internal("stored key is truncated".into()))?;
        ChaCha20Poly1305::new(Key::from_slice(key.expose_secret()))
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| Error::Internal("cannot decrypt the signing keys: keys.encryption_key is not the key they were sealed with".into()))
    }
}

/// The keys in force at one moment: the signer and every published public key.
pub struct Keyring {
    pub signer: SigningKey,
    pub jwks: Jwks,
    /// kid, alg, created, retired: for `keys list`.
    pub records: Vec<KeyRecord>,
}

fn new_kid(now: OffsetDateTime) -> String {
    let mut r = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut r);
    format!(
        "{}-{}",
        now.unix_timestamp(),
        r.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn new_record(vault: &KeyVault, alg: Algorithm, now: OffsetDateTime) -> Result<KeyRecord> {
    let (key, pkcs8) = SigningKey::generate(alg, new_kid(now))
        .map_err(|e| Error::Internal(format!("key generation: {e}")))?;
    let public_jwk = serde_json_string(&key.public_jwk())?;
    Ok(KeyRecord {
        kid: key.kid().to_owned(),
        alg: alg_name(alg).to_owned(),
        public_jwk,
        private_key: vault.seal(&pkcs8)?,
        created_at: now,
        activated_at: now,
        retired_at: None,
    })
}

fn serde_json_string(jwk: &Jwk) -> Result<String> {
    serde_json::to_string(jwk).map_err(|e| Error::Internal(format!("jwk: {e}")))
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
    }
}

fn parse_alg(s: &str) -> Result<Algorithm> {
    match s {
        "EdDSA" => Ok(Algorithm::EdDSA),
        other => Err(Error::Internal(format!(
            "unsupported key algorithm {other}"
        ))),
    }
}

/// Load the keyring; on an empty database create the first key (safe when
/// several instances start at once: exactly one insert wins).
pub async fn load_or_create(
    store: &dyn Store,
    vault: &KeyVault,
    now: OffsetDateTime,
    publish_for: Duration,
) -> Result<Keyring> {
    if store.signing_keys().await?.is_empty() {
        let first = new_record(vault, Algorithm::EdDSA, now)?;
        if store.insert_first_signing_key(&first).await? {
            tracing::info!(kid = %first.kid, "created the first signing key");
        }
    }
    load(store, vault, now, publish_for).await
}

/// Build the keyring from the database as it is now.
pub async fn load(
    store: &dyn Store,
    vault: &KeyVault,
    now: OffsetDateTime,
    publish_for: Duration,
) -> Result<Keyring> {
    let records = store.signing_keys().await?;
    let active = records
        .iter()
        .filter(|r| r.retired_at.is_none())
        .max_by_key(|r| r.activated_at)
        .ok_or_else(|| {
            Error::Internal("no active signing key: run `doorward keys rotate`".into())
        })?;
    let pkcs8 = vault.open(&active.private_key)?;
    let signer = SigningKey::from_pkcs8(parse_alg(&active.alg)?, active.kid.clone(), &pkcs8)
        .map_err(|e| Error::Internal(format!("loading signing key {}: {e}", active.kid)))?;
    let mut jwks = Jwks::default();
    for r in &records {
        let published = r.retired_at.is_none_or(|t| t + publish_for > now);
        if published {
            match serde_json::from_str::<Jwk>(&r.public_jwk) {
                Ok(jwk) => jwks.keys.push(jwk),
                Err(e) => {
                    tracing::warn!(kid = %r.kid, error = %e, "skipping an unreadable public key")
                }
            }
        }
    }
    Ok(Keyring {
        signer,
        jwks,
        records,
    })
}

/// Add a new key and make it the signer; the old ones stay published until
/// the tokens they signed have expired.
pub async fn rotate(store: &dyn Store, vault: &KeyVault, now: OffsetDateTime) -> Result<KeyRecord> {
    let record = new_record(vault, Algorithm::EdDSA, now)?;
    store.activate_signing_key(&record).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_and_sealed_round_trip() {
        let clear = KeyVault::new(None);
        assert_eq!(
            clear.open(&clear.seal(b"secret").unwrap()).unwrap(),
            b"secret"
        );
        let sealed = KeyVault::new(Some([7u8; 32]));
        let frame = sealed.seal(b"secret").unwrap();
        assert!(!frame.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealed.open(&frame).unwrap(), b"secret");
        // A vault with a key still reads keys stored in the clear.
        assert_eq!(sealed.open(&clear.seal(b"old").unwrap()).unwrap(), b"old");
    }

    #[test]
    fn wrong_or_missing_key_is_a_clear_error() {
        let frame = KeyVault::new(Some([7u8; 32])).seal(b"secret").unwrap();
        let e = KeyVault::new(Some([8u8; 32]))
            .open(&frame)
            .unwrap_err()
            .to_string();
        assert!(e.contains("encryption_key"), "{e}");
        let e = KeyVault::new(None).open(&frame).unwrap_err().to_string();
        assert!(e.contains("encryption_key"), "{e}");
        assert!(KeyVault::new(None).open(b"DW").is_err());
        assert!(KeyVault::new(None).open(b"XXXXabc").is_err());
    }
}
