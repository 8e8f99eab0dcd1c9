//! Channel credentials at rest: AES-256-GCM with a configured key, a random nonce per value.
//! Stored layout: `nonce (12 bytes) || ciphertext+tag`.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;

/// Encrypts and decrypts secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

/// Why a key or a ciphertext was refused.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The configured key is not 32 bytes of base64.
    #[error("credentials key must be 32 bytes, base64-encoded")]
    BadKey,
    /// The stored value was tampered with or encrypted with another key.
    #[error("ciphertext could not be decrypted")]
    Decrypt,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Builds the box from a base64 key of 32 bytes.
    pub fn from_base64_key(key_b64: &str) -> Result<Self, CryptoError> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_b64.trim())
            .map_err(|_| CryptoError::BadKey)?;
        if key.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        })
    }

    /// Encrypts `plain` under a fresh nonce.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plain)
                .expect("AES-GCM encryption cannot fail for in-memory buffers"),
        );
        out
    }

    /// Decrypts a value produced by [`SecretBox::seal`].
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const KEY: &str = "ZGV2LW9ubHktY3JlZGVudGlhbHMta2V5LTMyYnl0ZXM=";

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let b = SecretBox::from_base64_key(KEY).unwrap();
        let sealed = b.seal(b"{\"provider_token\":\"tok_123\"}");
        assert!(!sealed.windows(7).any(|w| w == b"tok_123"));
        assert_eq!(
            b.open(&sealed).unwrap(),
            b"{\"provider_token\":\"tok_123\"}"
        );
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(b.open(&bad).is_err());
        assert_ne!(b.seal(b"x"), b.seal(b"x"), "nonces must differ");
        assert!(SecretBox::from_base64_key("c2hvcnQ=").is_err());
    }
}
