//! Signed audit checkpoints. A hash chain only proves that no row changed *relative to a head someone else kept*:
//! whoever can write the store can also truncate it, or rewrite it and recompute every hash. So the ward signs the
//! chain's size and head hash with its own Ed25519 key, held outside the contractor's reach, and keeps the signed
//! text (on paper on the daily report, or as a file). `madoguchi audit verify` then checks a copy of the store
//! against that checkpoint offline: the signature, and that the entry at `size` still has the signed hash.
//!
//! The text form is fixed and line-based so a person can read it and a verifier can check it byte for byte:
//!
//! ```text
//! madoguchi-audit-checkpoint/v1
//! origin: 新宿区 戸籍住民課
//! size: 1234
//! head: 3f…(64 hex)
//! at: 1763600400000000
//! key: 1a2b3c4d5e6f7081
//! signature: …(128 hex)
//! ```
//!
//! The signature covers every line before `signature:`, each ending in `\n`.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

const CHECKPOINT_HEADER: &str = "madoguchi-audit-checkpoint/v1";
const SECRET_KEY_HEADER: &str = "madoguchi-ward-signing-key/v1";
const PUBLIC_KEY_HEADER: &str = "madoguchi-ward-public-key/v1";

/// Why a checkpoint, a key file or the store's agreement with a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a checkpoint or a key in the expected form.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Checkpoint, secret key or public key.
        what: &'static str,
        /// What is wrong, naming the line.
        reason: String,
    },
    /// The checkpoint was signed by another key than the one given.
    #[error("the checkpoint was signed by key {found}, not by the given public key {expected}")]
    WrongKey {
        /// Key id of the public key given.
        expected: String,
        /// Key id named in the checkpoint.
        found: String,
    },
    /// The signature does not verify: the checkpoint text was altered or forged.
    #[error("the checkpoint's signature does not verify (the checkpoint was altered or forged)")]
    BadSignature,
    /// The store has fewer entries than the checkpoint signed: rows at the end were removed.
    #[error("the audit log has {entries} entries but the checkpoint signed {size}: signed rows were removed")]
    Truncated {
        /// Entries signed.
        size: i64,
        /// Entries in the store.
        entries: i64,
    },
    /// The entry at the checkpoint's size has another hash: the signed history was rewritten.
    #[error("audit row seq {size} does not have the hash the checkpoint signed: the signed history was rewritten")]
    Diverged {
        /// The checkpoint's size.
        size: i64,
    },
}

impl CheckpointError {
    /// The message for an auditor's screen.
    pub fn message_ja(&self) -> String {
        match self {
            CheckpointError::Malformed { what, reason } => {
                let what = match *what {
                    "checkpoint" => "チェックポイント",
                    "secret key" => "署名鍵",
                    _ => "公開鍵",
                };
                format!("{what}の形式が正しくありません（{reason}）")
            }
            CheckpointError::WrongKey { .. } => {
                "チェックポイントは指定の公開鍵とは別の鍵で署名されています".to_string()
            }
            CheckpointError::BadSignature => {
                "チェックポイントの署名が一致しません。チェックポイントが改変または偽造されています".to_string()
            }
            CheckpointError::Truncated { size, entries } => format!(
                "監査ログは{entries}件しかありませんが、チェックポイントは{size}件に署名しています。署名済みの記録が削除されています"
            ),
            CheckpointError::Diverged { size } => {
                format!(
                    "監査ログ{size}番のハッシュがチェックポイントと一致しません。署名済みの記録が書き換えられています"
                )
            }
        }
    }
}

fn malformed(what: &'static str, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed { what, reason: reason.into() }
}

/// The ward's signing key (署名鍵). Held by ward staff, never by the contractor's terminals.
pub struct WardSigningKey(SigningKey);

impl std::fmt::Debug for WardSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WardSigningKey({})", self.public().key_id())
    }
}

impl WardSigningKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<WardSigningKey, CheckpointError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| malformed("secret key", format!("no random source: {e}")))?;
        Ok(WardSigningKey(SigningKey::from_bytes(&seed)))
    }

    /// The key from its 32-byte seed (tests).
    pub fn from_seed(seed: [u8; 32]) -> WardSigningKey {
        WardSigningKey(SigningKey::from_bytes(&seed))
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{SECRET_KEY_HEADER}\n{}\n", hex::encode(self.0.to_bytes()))
    }

    /// Read a key file's text.
    pub fn parse(text: &str) -> Result<WardSigningKey, CheckpointError> {
        let seed = parse_key_text(text, SECRET_KEY_HEADER, "secret key")?;
        Ok(WardSigningKey(SigningKey::from_bytes(&seed)))
    }

    /// The matching public key.
    pub fn public(&self) -> WardPublicKey {
        WardPublicKey(self.0.verifying_key())
    }

    /// Sign the chain's state.
    pub fn sign(&self, origin: &str, size: i64, head: [u8; 32], at_us: i64) -> Result<Checkpoint, CheckpointError> {
        if origin.is_empty() || origin.contains(['\n', '\r']) {
            return Err(malformed("checkpoint", "the origin must be one non-empty line"));
        }
        if size < 0 {
            return Err(malformed("checkpoint", "the size cannot be negative"));
        }
        let body = checkpoint_body(origin, size, &head, at_us, &self.public().key_id());
        let signature = self.0.sign(body.as_bytes());
        Ok(Checkpoint { origin: origin.to_string(), size, head, at_us, key_id: self.public().key_id(), signature })
    }
}

fn parse_key_text(text: &str, header: &str, what: &'static str) -> Result<[u8; 32], CheckpointError> {
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(malformed(what, format!("the first line must be {header}")));
    }
    let key_hex = lines.next().ok_or_else(|| malformed(what, "the key line is missing"))?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(malformed(what, "unexpected text after the key"));
    }
    let bytes = hex::decode(key_hex.trim()).map_err(|e| malformed(what, format!("the key is not hex: {e}")))?;
    bytes.try_into().map_err(|_| malformed(what, "the key must be 32 bytes"))
}

/// The ward's public key (公開鍵), given to whoever verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WardPublicKey(VerifyingKey);

impl WardPublicKey {
    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_HEADER}\n{}\n", hex::encode(self.0.to_bytes()))
    }

    /// Read a public key file's text.
    pub fn parse(text: &str) -> Result<WardPublicKey, CheckpointError> {
        let bytes = parse_key_text(text, PUBLIC_KEY_HEADER, "public key")?;
        VerifyingKey::from_bytes(&bytes)
            .map(WardPublicKey)
            .map_err(|_| malformed("public key", "not a valid Ed25519 public key"))
    }

    /// A short id: the first 8 bytes of the key's SHA-256, in hex.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.to_bytes())[..8])
    }
}

/// A signed statement "the audit log had `size` entries, the last with hash `head`" (監査ログのチェックポイント).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Whose log (the ward and section).
    pub origin: String,
    /// Entries covered.
    pub size: i64,
    /// Hash of entry `size` (all zero for an empty log).
    pub head: [u8; 32],
    /// When it was signed (µs since the epoch).
    pub at_us: i64,
    /// Id of the signing key.
    pub key_id: String,
    /// Ed25519 signature over the body.
    pub signature: Signature,
}

fn checkpoint_body(origin: &str, size: i64, head: &[u8; 32], at_us: i64, key_id: &str) -> String {
    format!(
        "{CHECKPOINT_HEADER}\norigin: {origin}\nsize: {size}\nhead: {}\nat: {at_us}\nkey: {key_id}\n",
        hex::encode(head)
    )
}

impl Checkpoint {
    /// The checkpoint's text (what is printed and filed).
    pub fn to_text(&self) -> String {
        let mut text = checkpoint_body(&self.origin, self.size, &self.head, self.at_us, &self.key_id);
        text.push_str("signature: ");
        text.push_str(&hex::encode(self.signature.to_bytes()));
        text.push('\n');
        text
    }

    /// Read a checkpoint's text. The signature is not checked here; see [`Checkpoint::verify`].
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let mut lines = text.lines();
        if lines.next() != Some(CHECKPOINT_HEADER) {
            return Err(malformed("checkpoint", format!("the first line must be {CHECKPOINT_HEADER}")));
        }
        let mut field = |name: &str| -> Result<String, CheckpointError> {
            let line = lines.next().ok_or_else(|| malformed("checkpoint", format!("the {name} line is missing")))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(": "))
                .map(str::to_string)
                .ok_or_else(|| malformed("checkpoint", format!("expected the {name} line, found {line:?}")))
        };
        let origin = field("origin")?;
        let size: i64 = field("size")?.parse().map_err(|_| malformed("checkpoint", "the size is not a number"))?;
        let head: [u8; 32] = hex::decode(field("head")?)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("checkpoint", "the head must be 64 hex digits"))?;
        let at_us: i64 = field("at")?.parse().map_err(|_| malformed("checkpoint", "the time is not a number"))?;
        let key_id = field("key")?;
        let signature: [u8; 64] = hex::decode(field("signature")?)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("checkpoint", "the signature must be 128 hex digits"))?;
        if lines.any(|line| !line.trim().is_empty()) {
            return Err(malformed("checkpoint", "unexpected text after the signature"));
        }
        if size < 0 || origin.is_empty() {
            return Err(malformed("checkpoint", "empty origin or negative size"));
        }
        Ok(Checkpoint { origin, size, head, at_us, key_id, signature: Signature::from_bytes(&signature) })
    }

    /// Check the signature against the ward's public key.
    pub fn verify(&self, key: &WardPublicKey) -> Result<(), CheckpointError> {
        if self.key_id != key.key_id() {
            return Err(CheckpointError::WrongKey { expected: key.key_id(), found: self.key_id.clone() });
        }
        let body = checkpoint_body(&self.origin, self.size, &self.head, self.at_us, &self.key_id);
        key.0.verify_strict(body.as_bytes(), &self.signature).map_err(|_| CheckpointError::BadSignature)
    }

    /// Check that a verified chain still contains this checkpoint: it has at least `size` entries and the entry at
    /// `size` has the signed hash (`head_at_size` is that entry's stored hash, `None` if the chain is shorter).
    pub fn check_prefix(&self, entries: i64, head_at_size: Option<[u8; 32]>) -> Result<(), CheckpointError> {
        if self.size == 0 {
            return Ok(());
        }
        match head_at_size {
            _ if entries < self.size => Err(CheckpointError::Truncated { size: self.size, entries }),
            Some(hash) if hash == self.head => Ok(()),
            _ => Err(CheckpointError::Diverged { size: self.size }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> WardSigningKey {
        WardSigningKey::from_seed([7; 32])
    }

    #[test]
    fn a_checkpoint_round_trips_and_verifies() {
        let checkpoint = key().sign("新宿区 戸籍住民課", 42, [9; 32], 1_763_600_400_000_000).expect("sign");
        let text = checkpoint.to_text();
        let parsed = Checkpoint::parse(&text).expect("parse");
        assert_eq!(parsed, checkpoint);
        parsed.verify(&key().public()).expect("verifies");
        assert!(text.starts_with("madoguchi-audit-checkpoint/v1\norigin: 新宿区 戸籍住民課\nsize: 42\n"), "{text}");
    }

    #[test]
    fn any_edit_of_the_text_is_refused() {
        let text = key().sign("ward", 42, [9; 32], 5).expect("sign").to_text();
        let public = key().public();
        for (index, byte) in text.bytes().enumerate() {
            if byte == b'\n' {
                continue;
            }
            let mut edited = text.clone().into_bytes();
            edited[index] = if byte == b'0' { b'1' } else { b'0' };
            let Ok(edited) = String::from_utf8(edited) else { continue };
            let refused = Checkpoint::parse(&edited).and_then(|c| c.verify(&public));
            assert!(refused.is_err(), "edit at byte {index} was accepted:\n{edited}");
        }
    }

    #[test]
    fn another_key_is_named_and_keys_round_trip() {
        let checkpoint = key().sign("ward", 1, [1; 32], 5).expect("sign");
        let other = WardSigningKey::from_seed([8; 32]);
        assert!(matches!(checkpoint.verify(&other.public()), Err(CheckpointError::WrongKey { .. })));
        let secret = WardSigningKey::parse(&key().to_text()).expect("secret key file");
        assert_eq!(secret.public(), key().public());
        let public = WardPublicKey::parse(&key().public().to_text()).expect("public key file");
        assert_eq!(public, key().public());
        assert!(WardPublicKey::parse(&key().to_text()).is_err(), "a secret key file is not a public key file");
        assert!(WardSigningKey::parse("madoguchi-ward-signing-key/v1\nzz\n").is_err());
    }

    #[test]
    fn truncation_and_rewrites_below_the_checkpoint_are_named() {
        let checkpoint = key().sign("ward", 10, [3; 32], 5).expect("sign");
        assert_eq!(checkpoint.check_prefix(12, Some([3; 32])), Ok(()));
        assert_eq!(checkpoint.check_prefix(9, None), Err(CheckpointError::Truncated { size: 10, entries: 9 }));
        assert_eq!(checkpoint.check_prefix(12, Some([4; 32])), Err(CheckpointError::Diverged { size: 10 }));
        assert!(CheckpointError::Truncated { size: 10, entries: 9 }.message_ja().contains("削除"));
    }
}
