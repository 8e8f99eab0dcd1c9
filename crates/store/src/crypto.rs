//! Channel credentials at rest: AES-256-GCM, a random nonce per value, bound by its associated
//! data to the owning account, the channel and the key id ([`credentials_aad`]: a ciphertext
//! copied to another account, swapped with another channel's, or relabelled with another key id
//! does not decrypt), and the id of the key stored beside the ciphertext so keys can rotate
//! (`crypto.credentials_keys`, one active). Stored layout of the ciphertext: `nonce (12 bytes)
//! || ciphertext+tag`. Values sealed by earlier releases (bound to the account alone) still
//! open, and are rewritten in the new form when read ([`Keyring::open_credentials`]).

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use migrator_runtime::settings::CryptoSettings;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

/// The known keys, one of them sealing new values.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

/// A value as stored: the key that sealed it and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the key.
    pub key_id: String,
    /// `nonce || ciphertext+tag`.
    pub bytes: Vec<u8>,
}

/// Why a key or a ciphertext was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A configured key is not 32 bytes of base64.
    #[error("crypto.credentials_keys.{0} must be 32 bytes, base64-encoded")]
    BadKey(String),
    /// The active key is not among the keys.
    #[error("crypto.active_key {0:?} is not in crypto.credentials_keys")]
    NoActiveKey(String),
    /// The value names a key this process does not know.
    #[error("key {0:?} is unknown")]
    UnknownKey(String),
    /// The value was tampered with, sealed with another key, or belongs to another account.
    #[error("ciphertext could not be decrypted")]
    Decrypt,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring(active {:?}, {} keys)",
            self.active,
            self.keys.len()
        )
    }
}

/// How a value was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealForm {
    /// Bound to the account, the channel and the key id.
    Bound,
    /// Bound to the account alone (releases before the binding): rewrite it.
    AccountOnly,
}

/// The associated data of a channel's credentials: a version tag, the account's and the
/// channel's 16 bytes, the key id.
pub fn credentials_aad(account: &uuid::Uuid, channel: &uuid::Uuid, key_id: &str) -> Vec<u8> {
    let mut aad = b"reamaze-credentials/v2\0".to_vec();
    aad.extend_from_slice(account.as_bytes());
    aad.extend_from_slice(channel.as_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

impl Keyring {
    /// Seals a channel's credentials with the active key, bound to its account, the channel and
    /// the key id.
    pub fn seal_credentials(
        &self,
        plain: &[u8],
        account: &uuid::Uuid,
        channel: &uuid::Uuid,
    ) -> Sealed {
        self.seal(plain, &credentials_aad(account, channel, &self.active))
    }

    /// Opens a channel's credentials: bound to the account, the channel and its key id, or (a
    /// value of an earlier release) to the account alone — then [`SealForm::AccountOnly`], and
    /// the caller rewrites it with [`Keyring::seal_credentials`].
    pub fn open_credentials(
        &self,
        sealed: &Sealed,
        account: &uuid::Uuid,
        channel: &uuid::Uuid,
    ) -> Result<(Vec<u8>, SealForm), CryptoError> {
        match self.open(sealed, &credentials_aad(account, channel, &sealed.key_id)) {
            Ok(plain) => Ok((plain, SealForm::Bound)),
            Err(CryptoError::Decrypt) => self
                .open(sealed, account.as_bytes())
                .map(|plain| (plain, SealForm::AccountOnly)),
            Err(e) => Err(e),
        }
    }

    /// The keys of the settings.
    pub fn from_settings(c: &CryptoSettings) -> Result<Self, CryptoError> {
        let mut keys = BTreeMap::new();
        for (id, b64) in &c.credentials_keys {
            let key = base64::engine::general_purpose::STANDARD
                .decode(b64.expose_secret().trim())
                .map_err(|_| CryptoError::BadKey(id.clone()))?;
            let cipher =
                Aes256Gcm::new_from_slice(&key).map_err(|_| CryptoError::BadKey(id.clone()))?;
            keys.insert(id.clone(), cipher);
        }
        if !keys.contains_key(&c.active_key) {
            return Err(CryptoError::NoActiveKey(c.active_key.clone()));
        }
        Ok(Self {
            active: c.active_key.clone(),
            keys,
        })
    }

    /// Seals `plain` with the active key, bound to `owner` (associated data).
    pub fn seal(&self, plain: &[u8], owner: &[u8]) -> Sealed {
        let cipher = &self.keys[&self.active];
        // 96 random bits from the operating system (getrandom)
        let nonce = Nonce::generate();
        let mut bytes = nonce.to_vec();
        bytes.extend(
            cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: plain,
                        aad: owner,
                    },
                )
                .expect("AES-GCM encryption cannot fail for in-memory buffers"),
        );
        Sealed {
            key_id: self.active.clone(),
            bytes,
        }
    }

    /// Opens a value sealed for `owner` by any known key.
    pub fn open(&self, sealed: &Sealed, owner: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = sealed.bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Decrypt)?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: owner,
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const KEY: &str = "ZGV2LW9ubHktY3JlZGVudGlhbHMta2V5LTMyYnl0ZXM=";

    fn settings(active: &str, keys: &[(&str, String)]) -> CryptoSettings {
        CryptoSettings {
            active_key: active.into(),
            credentials_keys: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone().into()))
                .collect(),
        }
    }

    #[test]
    fn seals_opens_and_detects_tampering_and_swapped_rows() {
        let ring = Keyring::from_settings(&settings("k1", &[("k1", KEY.into())])).unwrap();
        let secret = b"{\"provider_token\":\"tok_123\"}";
        let sealed = ring.seal(secret, b"account-a");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.bytes.windows(7).any(|w| w == b"tok_123"));
        assert_eq!(ring.open(&sealed, b"account-a").unwrap(), secret);
        // a row copied to another account does not decrypt
        assert_eq!(ring.open(&sealed, b"account-b"), Err(CryptoError::Decrypt));
        let mut bad = sealed.clone();
        *bad.bytes.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&bad, b"account-a"), Err(CryptoError::Decrypt));
        assert_ne!(ring.seal(b"x", b"a").bytes, ring.seal(b"x", b"a").bytes);
    }

    /// Rows sealed by any earlier release still open: the stored layout is plain AES-256-GCM
    /// (nonce || ciphertext || tag), checked against the GCM specification's test case 16
    /// (McGrew and Viega, "The Galois/Counter Mode of Operation": 256-bit key, 96-bit IV,
    /// associated data), whatever version of the aes-gcm crate does the work.
    #[test]
    fn the_stored_layout_is_aes_256_gcm_as_specified() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let ring = Keyring::from_settings(&settings("k", &[("k", b64)])).unwrap();
        let plain = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let stored = hex("cafebabefacedbaddecaf888\
             522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b");
        let sealed = Sealed {
            key_id: "k".into(),
            bytes: stored,
        };
        assert_eq!(ring.open(&sealed, &aad).unwrap(), plain);
    }

    #[test]
    fn credentials_are_bound_to_account_channel_and_key_and_the_old_form_still_opens() {
        let ring = Keyring::from_settings(&settings("k1", &[("k1", KEY.into())])).unwrap();
        let (acc, ch1, ch2) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let one = ring.seal_credentials(b"token-1", &acc, &ch1);
        let two = ring.seal_credentials(b"token-2", &acc, &ch2);
        assert_eq!(
            ring.open_credentials(&one, &acc, &ch1).unwrap(),
            (b"token-1".to_vec(), SealForm::Bound)
        );
        // two channels' ciphertexts swapped by a database writer open for neither
        assert_eq!(
            ring.open_credentials(&two, &acc, &ch1),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            ring.open_credentials(&one, &acc, &ch2),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            ring.open_credentials(&one, &uuid::Uuid::new_v4(), &ch1),
            Err(CryptoError::Decrypt)
        );
        // a value of an earlier release (bound to the account alone) opens, and says so
        let legacy = ring.seal(b"token-0", acc.as_bytes());
        assert_eq!(
            ring.open_credentials(&legacy, &acc, &ch1).unwrap(),
            (b"token-0".to_vec(), SealForm::AccountOnly)
        );
    }

    #[test]
    fn keys_rotate_and_bad_keys_are_refused() {
        let new_key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let old = Keyring::from_settings(&settings("k1", &[("k1", KEY.into())])).unwrap();
        let sealed_old = old.seal(b"v1", b"acc");
        let both = [("k1", KEY.to_string()), ("k2", new_key)];
        let ring = Keyring::from_settings(&settings("k2", &both)).unwrap();
        assert_eq!(
            ring.seal(b"v2", b"acc").key_id,
            "k2",
            "new values use the active key"
        );
        assert_eq!(
            ring.open(&sealed_old, b"acc").unwrap(),
            b"v1",
            "old rows still open"
        );
        let only_new = Keyring::from_settings(&settings("k2", &both[1..])).unwrap();
        assert_eq!(
            only_new.open(&sealed_old, b"acc"),
            Err(CryptoError::UnknownKey("k1".into()))
        );
        let short = settings("k1", &[("k1", "c2hvcnQ=".into())]);
        assert_eq!(
            Keyring::from_settings(&short).unwrap_err(),
            CryptoError::BadKey("k1".into())
        );
        let missing = settings("k9", &[("k1", KEY.into())]);
        assert!(matches!(
            Keyring::from_settings(&missing),
            Err(CryptoError::NoActiveKey(_))
        ));
    }
}
