//! The store's side of sealed resident data: which columns are sealed under which dataset's key, for which row, and
//! how the return export gets them back in the clear. Both backends call these; the keys are the store's
//! [`DataKeyRing`], shared behind a lock so that erasure can make the running store forget them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use sha2::Digest as _;

use crate::datakeys::{DataKeyRing, Dataset};
use crate::error::StoreError;
use crate::request::CounterRequest;

/// The data keys a store holds, and whether the database records them as destroyed (an erased store).
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    pub(crate) ring: DataKeyRing,
    pub(crate) erased: bool,
}

/// The key state shared by the clones of one store.
pub(crate) type SharedKeys = Arc<RwLock<KeyState>>;

fn read(keys: &SharedKeys) -> Result<std::sync::RwLockReadGuard<'_, KeyState>, StoreError> {
    keys.read().map_err(|_| StoreError::Corrupt("the data key lock was poisoned".to_string()))
}

/// A copy of the loaded key ring (erasure destroys its file, then installs the emptied ring).
pub(crate) fn ring(keys: &SharedKeys) -> Result<DataKeyRing, StoreError> {
    Ok(read(keys)?.ring.clone())
}

/// Replace the key state (opening, erasure).
pub(crate) fn replace(keys: &SharedKeys, state: KeyState) -> Result<(), StoreError> {
    let mut guard = keys.write().map_err(|_| StoreError::Corrupt("the data key lock was poisoned".to_string()))?;
    *guard = state;
    Ok(())
}

/// A new value may be sealed only while the store is not erased.
fn sealing_ring(keys: &SharedKeys) -> Result<std::sync::RwLockReadGuard<'_, KeyState>, StoreError> {
    let state = read(keys)?;
    if state.erased {
        return Err(StoreError::Erased);
    }
    Ok(state)
}

fn request_context(case_id: i64) -> String {
    format!("case:{case_id}")
}

fn output_context(what: &str, case_id: i64, sha256: &[u8; 32]) -> String {
    format!("{what}:{case_id}:{}", hex::encode(sha256))
}

/// `cases.request` as stored: the request's JSON sealed for its case, in hex.
pub(crate) fn seal_request(keys: &SharedKeys, case_id: i64, request: &CounterRequest) -> Result<String, StoreError> {
    let json = serde_json::to_vec(request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let state = sealing_ring(keys)?;
    Ok(hex::encode(state.ring.seal(Dataset::CaseRequests, request_context(case_id).as_bytes(), &json)?))
}

/// Open `cases.request`. A store written before sealing (migration 6) holds plain JSON, read as it is.
pub(crate) fn open_request(keys: &SharedKeys, case_id: i64, stored: &str) -> Result<CounterRequest, StoreError> {
    let json = if stored.starts_with('{') {
        stored.as_bytes().to_vec()
    } else {
        let sealed = hex::decode(stored).map_err(|e| StoreError::Corrupt(format!("case {case_id}: request: {e}")))?;
        read(keys)?.ring.open(Dataset::CaseRequests, request_context(case_id).as_bytes(), &sealed)?
    };
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("case {case_id}: {e}")))
}

/// `outputs.bytes` and `outputs.document` as stored, sealed for the case and the bytes' SHA-256.
pub(crate) fn seal_output(
    keys: &SharedKeys,
    case_id: i64,
    sha256: &[u8; 32],
    bytes: &[u8],
    document: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), StoreError> {
    let state = sealing_ring(keys)?;
    let sealed_bytes =
        state.ring.seal(Dataset::Outputs, output_context("output", case_id, sha256).as_bytes(), bytes)?;
    let sealed_document = document
        .map(|document| {
            let context = output_context("document", case_id, sha256);
            state.ring.seal(Dataset::Outputs, context.as_bytes(), document.as_bytes()).map(hex::encode)
        })
        .transpose()?;
    Ok((sealed_bytes, sealed_document))
}

/// Open an output and check that its bytes still have the recorded SHA-256. A store written before sealing holds
/// the bytes and document in the clear, read as they are (the hash is checked all the same).
pub(crate) fn open_output(
    keys: &SharedKeys,
    case_id: i64,
    sha256: &[u8; 32],
    stored_bytes: Vec<u8>,
    stored_document: Option<String>,
) -> Result<(Vec<u8>, Option<String>), StoreError> {
    let state = read(keys)?;
    let bytes = if stored_bytes.starts_with(crate::datakeys::SEALED_MAGIC) {
        state.ring.open(Dataset::Outputs, output_context("output", case_id, sha256).as_bytes(), &stored_bytes)?
    } else {
        stored_bytes
    };
    let actual: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    if &actual != sha256 {
        return Err(StoreError::Corrupt(format!("an output of case {case_id} does not match its SHA-256")));
    }
    let document = match stored_document {
        Some(stored) if !stored.starts_with('{') => {
            let sealed =
                hex::decode(&stored).map_err(|e| StoreError::Corrupt(format!("case {case_id}: document: {e}")))?;
            let context = output_context("document", case_id, sha256);
            let plain = state.ring.open(Dataset::Outputs, context.as_bytes(), &sealed)?;
            Some(String::from_utf8(plain).map_err(|e| StoreError::Corrupt(format!("case {case_id}: document: {e}")))?)
        }
        other => other,
    };
    Ok((bytes, document))
}

/// A binary column as the backends render it in JSON: SQLite's `hex()` (upper case) or PostgreSQL's `\x…`.
fn blob_from_json(value: &serde_json::Value) -> Option<(Vec<u8>, bool)> {
    let text = value.as_str()?;
    match text.strip_prefix("\\x") {
        Some(hex_digits) => hex::decode(hex_digits).ok().map(|bytes| (bytes, true)),
        None => hex::decode(text).ok().map(|bytes| (bytes, false)),
    }
}

fn blob_to_json(bytes: &[u8], postgres_form: bool) -> serde_json::Value {
    if postgres_form {
        serde_json::Value::String(format!("\\x{}", hex::encode(bytes)))
    } else {
        serde_json::Value::String(hex::encode_upper(bytes))
    }
}

fn field_i64(row: &serde_json::Value, table: &str, field: &str) -> Result<i64, StoreError> {
    row.get(field)
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| StoreError::Corrupt(format!("{table}: no {field}")))
}

/// The return export holds resident data in the clear: open every sealed column of the raw tables. The request
/// and the document become JSON objects; the bytes keep the backend's binary form.
pub(crate) fn unseal_export(
    keys: &SharedKeys,
    tables: &mut BTreeMap<String, Vec<serde_json::Value>>,
) -> Result<(), StoreError> {
    for row in tables.get_mut("cases").map(Vec::as_mut_slice).unwrap_or_default() {
        let case_id = field_i64(row, "cases", "id")?;
        let stored = row.get("request").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let request = open_request(keys, case_id, &stored)?;
        row["request"] = serde_json::to_value(&request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    }
    for row in tables.get_mut("outputs").map(Vec::as_mut_slice).unwrap_or_default() {
        let case_id = field_i64(row, "outputs", "case_id")?;
        let sha256 = row
            .get("sha256")
            .and_then(blob_from_json)
            .and_then(|(bytes, _)| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("outputs of case {case_id}: no SHA-256")))?;
        let (stored, postgres_form) = row
            .get("bytes")
            .and_then(blob_from_json)
            .ok_or_else(|| StoreError::Corrupt(format!("outputs of case {case_id}: no bytes")))?;
        let document = row.get("document").and_then(serde_json::Value::as_str).map(str::to_string);
        let (bytes, document) = open_output(keys, case_id, &sha256, stored, document)?;
        row["bytes"] = blob_to_json(&bytes, postgres_form);
        row["document"] = match document {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("case {case_id}: {e}")))?
            }
            None => serde_json::Value::Null,
        };
    }
    Ok(())
}
