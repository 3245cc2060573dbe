//! Secrets the server must read back later (TOTP seeds, webhook signing secrets), sealed at
//! rest under the server's key (`auth.totp_key`) as `nonce || ChaCha20-Poly1305(secret)`, so a
//! copy of the database alone reveals none of them.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

const NONCE_BYTES: usize = 12;

pub struct SealingKey {
    cipher: ChaCha20Poly1305,
}

impl SealingKey {
    /// `key_hex` is 64 hex characters (checked when settings load).
    pub fn from_hex(key_hex: &str) -> Self {
        let key: Vec<u8> = (0..key_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap_or(0))
            .collect();
        SealingKey {
            cipher: ChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key"),
        }
    }

    pub fn seal(&self, secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), secret)
            .expect("ChaCha20-Poly1305 encryption of a short secret cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// `None` if the blob was not sealed with this key (or was tampered with).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_resist_tampering() {
        let key = SealingKey::from_hex(&"ab".repeat(32));
        let secret = b"a secret of twenty b".to_vec();
        let sealed = key.seal(&secret);
        assert_ne!(&sealed[NONCE_BYTES..], secret.as_slice());
        assert_eq!(key.open(&sealed), Some(secret));
        let mut bad = sealed.clone();
        bad[NONCE_BYTES] ^= 1;
        assert_eq!(key.open(&bad), None);
        assert_eq!(SealingKey::from_hex(&"cd".repeat(32)).open(&sealed), None);
        assert_eq!(key.open(&sealed[..NONCE_BYTES]), None);
    }
}
