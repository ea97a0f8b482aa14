//! 手数料: the ward's ordinance (手数料条例) decides what each certificate costs, so the amounts are a table the
//! administrator keeps in a file — refused whole when a certificate kind is missing, an amount is negative or
//! absurd, or a key is unknown, so the counter never charges a guessed fee. Requests that the law or the ordinance
//! exempts (公用) are charged nothing, with the reason recorded on the issuance.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::request::{CertificateKind, RequesterCategory};

/// The highest amount per copy the table accepts (a typo guard: ordinance fees are hundreds of yen).
pub const MAX_FEE_YEN: i64 = 10_000;

/// The fee of one issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    /// Yen to collect (0 when exempt).
    pub yen: i64,
    /// Why nothing or less is collected (免除の理由), if so.
    pub exemption: Option<String>,
}

/// The ward's fee table, yen per copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeTable {
    per_copy: HashMap<CertificateKind, i64>,
}

/// A fee table that cannot be used; nothing of it is applied.
#[derive(Debug, thiserror::Error)]
pub enum FeeTableError {
    /// The file cannot be read.
    #[error("fee table {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not TOML, or not a table of integer amounts.
    #[error("fee table: {0}")]
    Syntax(String),
    /// A key that is no certificate kind.
    #[error("fee table: certificates.{0} is not a certificate kind")]
    UnknownKind(String),
    /// A certificate kind without an amount (a gap).
    #[error("fee table: certificates.{0} is missing (every certificate kind needs an amount; 0 for free)")]
    Missing(&'static str),
    /// A negative or absurd amount.
    #[error("fee table: certificates.{key} = {yen} is outside 0–{MAX_FEE_YEN} yen")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The amount.
        yen: i64,
    },
}

impl FeeTableError {
    /// The message for the administrator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            FeeTableError::Read { path, .. } => format!("手数料表（{path}）を読めません"),
            FeeTableError::Syntax(_) => "手数料表の書式に誤りがあります（金額は整数で記入してください）".to_string(),
            FeeTableError::UnknownKind(key) => format!("手数料表の「{key}」は証明書の種類ではありません"),
            FeeTableError::Missing(key) => format!("手数料表に「{key}」の金額がありません（無料の場合は0）"),
            FeeTableError::OutOfRange { key, yen } => {
                format!("手数料表の「{key}」の金額（{yen}円）は0〜{MAX_FEE_YEN}円の範囲で設定してください")
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FeeFile {
    certificates: BTreeMap<String, i64>,
}

impl FeeTable {
    /// The demo's table: ¥300 a copy, 転出証明書 free (typical ordinance amounts; the ward's own file replaces it).
    pub fn demo() -> Self {
        let per_copy = CertificateKind::ALL
            .into_iter()
            .map(|kind| (kind, if kind == CertificateKind::MoveOutCertificate { 0 } else { 300 }))
            .collect();
        FeeTable { per_copy }
    }

    /// Parse and check a fee table's text:
    ///
    /// ```toml
    /// [certificates]
    /// juminhyo-setai = 300
    /// ```
    /// with one key per certificate kind (`CertificateKind::as_str`).
    pub fn parse(text: &str) -> Result<Self, FeeTableError> {
        let file: FeeFile = toml::from_str(text).map_err(|e| FeeTableError::Syntax(e.to_string()))?;
        if let Some(unknown) = file.certificates.keys().find(|key| CertificateKind::parse(key).is_none()) {
            return Err(FeeTableError::UnknownKind(unknown.clone()));
        }
        let amounts: Vec<(CertificateKind, i64)> = CertificateKind::ALL
            .into_iter()
            .filter_map(|kind| file.certificates.get(kind.as_str()).map(|yen| (kind, *yen)))
            .collect();
        Self::from_amounts(&amounts)
    }

    /// Read and check a fee table file.
    pub fn load(path: &Path) -> Result<Self, FeeTableError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FeeTableError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Self::parse(&text)
    }

    /// A table from amounts (entered on screen, or read from a file): every certificate kind needs one, each within
    /// 0–[`MAX_FEE_YEN`] yen.
    pub fn from_amounts(amounts: &[(CertificateKind, i64)]) -> Result<Self, FeeTableError> {
        let mut per_copy = HashMap::new();
        for &(kind, yen) in amounts {
            if !(0..=MAX_FEE_YEN).contains(&yen) {
                return Err(FeeTableError::OutOfRange { key: kind.as_str(), yen });
            }
            per_copy.insert(kind, yen);
        }
        if let Some(missing) = CertificateKind::ALL.into_iter().find(|kind| !per_copy.contains_key(kind)) {
            return Err(FeeTableError::Missing(missing.as_str()));
        }
        Ok(FeeTable { per_copy })
    }

    /// Every kind with its amount per copy, in [`CertificateKind::ALL`]'s order.
    pub fn amounts(&self) -> Vec<(CertificateKind, i64)> {
        CertificateKind::ALL.into_iter().map(|kind| (kind, self.per_copy(kind))).collect()
    }

    /// The table in the file format [`FeeTable::parse`] reads (how the store keeps it).
    pub fn to_toml(&self) -> String {
        let mut text = "[certificates]\n".to_string();
        for (kind, yen) in self.amounts() {
            text.push_str(&format!("{} = {yen}\n", kind.as_str()));
        }
        text
    }

    /// The amount per copy of a kind.
    pub fn per_copy(&self, kind: CertificateKind) -> i64 {
        self.per_copy.get(&kind).copied().unwrap_or(0)
    }

    /// The fee of issuing `copies` of `kind` to a requester of `category`: 公用 requests are exempt, and so is a
    /// request with an exemption reason the reviewer approved.
    pub fn fee(&self, kind: CertificateKind, copies: i64, category: RequesterCategory, exemption: Option<&str>) -> Fee {
        if category == RequesterCategory::Official {
            return Fee { yen: 0, exemption: Some("公用請求".to_string()) };
        }
        if let Some(reason) = exemption.map(str::trim).filter(|reason| !reason.is_empty()) {
            return Fee { yen: 0, exemption: Some(reason.to_string()) };
        }
        Fee { yen: self.per_copy(kind).saturating_mul(copies.max(0)), exemption: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_table(overrides: &[(&str, &str)]) -> String {
        let mut text = "[certificates]\n".to_string();
        for kind in CertificateKind::ALL {
            let value = overrides.iter().find(|(key, _)| *key == kind.as_str()).map_or("300", |(_, value)| value);
            if value != "-" {
                text.push_str(&format!("{} = {value}\n", kind.as_str()));
            }
        }
        text
    }

    #[test]
    fn a_complete_table_prices_each_kind_and_exempts_official_requests() {
        let table =
            FeeTable::parse(&full_table(&[(CertificateKind::MoveOutCertificate.as_str(), "0")])).expect("valid");
        let household = CertificateKind::ResidentRecordHousehold;
        let fee = table.fee(household, 2, RequesterCategory::Self_, None);
        assert_eq!(fee, Fee { yen: 600, exemption: None });
        assert_eq!(table.fee(CertificateKind::MoveOutCertificate, 1, RequesterCategory::Self_, None).yen, 0);
        let official = table.fee(household, 3, RequesterCategory::Official, None);
        let assisted = table.fee(household, 1, RequesterCategory::Self_, Some("生活保護受給中"));
        assert_eq!((assisted.yen, assisted.exemption.as_deref()), (0, Some("生活保護受給中")));
        assert_eq!((official.yen, official.exemption.as_deref()), (0, Some("公用請求")));
        assert_eq!(FeeTable::parse(&full_table(&[])).expect("valid"), {
            let mut demo = FeeTable::demo();
            demo.per_copy.insert(CertificateKind::MoveOutCertificate, 300);
            demo
        });
    }

    #[test]
    fn entered_amounts_are_checked_like_a_file_and_round_trip_through_the_stored_text() {
        let mut amounts = FeeTable::demo().amounts();
        amounts[0].1 = 350;
        let table = FeeTable::from_amounts(&amounts).expect("valid");
        assert_eq!(table.per_copy(amounts[0].0), 350);
        assert_eq!(FeeTable::parse(&table.to_toml()).expect("stored text"), table);
        let mut negative = amounts.clone();
        negative[1].1 = -1;
        assert!(matches!(FeeTable::from_amounts(&negative), Err(FeeTableError::OutOfRange { yen: -1, .. })));
        let mut absurd = amounts.clone();
        absurd[1].1 = MAX_FEE_YEN + 1;
        assert!(matches!(FeeTable::from_amounts(&absurd), Err(FeeTableError::OutOfRange { .. })));
        let gap = &amounts[1..];
        let err = FeeTable::from_amounts(gap).expect_err("a kind left out");
        assert!(matches!(err, FeeTableError::Missing(key) if key == amounts[0].0.as_str()), "{err}");
    }

    #[test]
    fn the_shipped_example_table_is_valid() {
        let table = FeeTable::parse(include_str!("../../../config/fees.example.toml")).expect("example");
        assert_eq!(table.per_copy(CertificateKind::MoveOutCertificate), 0);
        assert_eq!(table.per_copy(CertificateKind::SealCertificate), 300);
    }

    #[test]
    fn gaps_negative_amounts_and_unknown_keys_are_refused_by_name() {
        let seal = CertificateKind::SealCertificate.as_str();
        let cases = [
            (full_table(&[(seal, "-")]), format!("certificates.{seal} is missing")),
            (full_table(&[(seal, "-300")]), format!("certificates.{seal} = -300")),
            (full_table(&[(seal, "3000000")]), format!("certificates.{seal} = 3000000")),
            (format!("{}koseki = 450\n", full_table(&[])), "certificates.koseki is not a certificate kind".to_string()),
            (full_table(&[(seal, "\"300\"")]), "fee table:".to_string()),
            (format!("{}[other]\nx = 1\n", full_table(&[])), "unknown field".to_string()),
        ];
        for (text, expected) in cases {
            let err = FeeTable::parse(&text).expect_err(&text);
            assert!(err.to_string().contains(&expected), "{err} should say {expected}");
            assert!(!err.message_ja().is_empty());
        }
    }
}
