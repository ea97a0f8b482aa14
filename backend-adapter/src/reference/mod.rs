//! The embedded reference resident system: a real implementation of the port on its own SQLite file, used by the
//! demo, training and tests in place of the ward's system. It keeps records as JSON documents beside the columns
//! its searches need, and a name-key index that answers prefix searches over a million persons in milliseconds.

pub mod generate;
pub mod names;
mod seal_image;

pub use seal_image::synthetic_impression;

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use jiff::civil::Date;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, Sqlite, Transaction};

use crate::port::{ResidentSystem, ResidentSystemError};
use crate::search_key::{prefix_upper_bound, search_key};
use crate::types::{
    Address, Household, HouseholdId, HouseholdTarget, MoveEntry, MoveInRecord, MoveReceipt, MoveSubmission, Person,
    PersonId, PersonSummary, ResidentStatus, SealAbolition, SealApplication, SealRegistration, SearchQuery,
};

pub use generate::{GenerationOptions, GenerationSummary, generate};

/// A `seals` row: number, person, registered on, abolished on, impression.
type SealRow = (String, i64, String, Option<String>, Vec<u8>);

/// Schema version of the reference store; a file of another version is refused rather than misread.
pub const SCHEMA_VERSION: &str = "1";

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS households (
    id INTEGER PRIMARY KEY,
    head_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    address_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    household_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    birth_date TEXT NOT NULL,
    resident_code TEXT NOT NULL,
    individual_number TEXT NOT NULL,
    kana_key TEXT NOT NULL,
    kanji_key TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS name_keys (
    key TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    PRIMARY KEY (key, person_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seals (
    registration_number TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL,
    registered_on TEXT NOT NULL,
    abolished_on TEXT,
    impression BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_entries (
    idempotency_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    response TEXT NOT NULL
);
";

/// Indexes, created after a bulk load (faster than maintaining them row by row).
pub(crate) const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS households_address_key ON households(address_key);
CREATE INDEX IF NOT EXISTS persons_household ON persons(household_id, seq);
CREATE INDEX IF NOT EXISTS persons_birth_date ON persons(birth_date);
CREATE UNIQUE INDEX IF NOT EXISTS persons_resident_code ON persons(resident_code);
CREATE UNIQUE INDEX IF NOT EXISTS persons_individual_number ON persons(individual_number);
CREATE INDEX IF NOT EXISTS seals_person ON seals(person_id);
";

/// The embedded reference resident system on its own SQLite file.
#[derive(Debug, Clone)]
pub struct ReferenceResidentSystem {
    pool: SqlitePool,
}

fn storage_error(err: sqlx::Error) -> ResidentSystemError {
    ResidentSystemError::Unavailable(format!("reference store: {err}"))
}

fn corrupt(err: impl std::fmt::Display) -> ResidentSystemError {
    ResidentSystemError::InvalidResponse(format!("reference store record: {err}"))
}

fn rejected(reason: impl Into<String>, reason_ja: impl Into<String>) -> ResidentSystemError {
    ResidentSystemError::Rejected { reason: reason.into(), reason_ja: reason_ja.into() }
}

pub(crate) fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
}

impl ReferenceResidentSystem {
    /// Open an existing reference store (one made by [`generate`] or [`ReferenceResidentSystem::create_empty`]).
    pub async fn open(path: &Path) -> Result<Self, ResidentSystemError> {
        if !path.exists() {
            return Err(ResidentSystemError::Unavailable(format!("reference store {} does not exist", path.display())));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect_options(path))
            .await
            .map_err(storage_error)?;
        let version: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetch_optional(&pool)
            .await
            .map_err(storage_error)?;
        match version.as_deref() {
            Some(SCHEMA_VERSION) => Ok(Self { pool }),
            other => Err(ResidentSystemError::InvalidResponse(format!(
                "{} is not a reference store of schema version {SCHEMA_VERSION} (found {other:?})",
                path.display()
            ))),
        }
    }

    /// Create an empty reference store (no residents), for tests that load their own.
    pub async fn create_empty(path: &Path) -> Result<Self, ResidentSystemError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect_options(path).create_if_missing(true))
            .await
            .map_err(storage_error)?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(storage_error)?;
        sqlx::raw_sql(INDEXES).execute(&pool).await.map_err(storage_error)?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)")
            .bind(SCHEMA_VERSION)
            .execute(&pool)
            .await
            .map_err(storage_error)?;
        Ok(Self { pool })
    }

    /// How many persons the store holds.
    pub async fn person_count(&self) -> Result<i64, ResidentSystemError> {
        sqlx::query_scalar("SELECT count(*) FROM persons").fetch_one(&self.pool).await.map_err(storage_error)
    }

    /// The ids of a few households, in id order from `after`: a way for demos and tests to pick residents.
    pub async fn household_ids(&self, after: i64, limit: u32) -> Result<Vec<HouseholdId>, ResidentSystemError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM households WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error)?;
        Ok(ids.into_iter().map(HouseholdId).collect())
    }

    /// The persons under 支援措置 (for tests and the demo's hard-stop scenario).
    pub async fn persons_under_support_measure(&self, limit: u32) -> Result<Vec<PersonId>, ResidentSystemError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM persons WHERE json_extract(record, '$.support_measure') = 1 ORDER BY id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)?;
        Ok(ids.into_iter().map(PersonId).collect())
    }

    /// Some active seal registrations' numbers (for tests and the demo's card simulator).
    pub async fn seal_numbers(&self, limit: u32) -> Result<Vec<String>, ResidentSystemError> {
        sqlx::query_scalar(
            "SELECT registration_number FROM seals WHERE abolished_on IS NULL ORDER BY registration_number LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)
    }

    /// Set or clear 支援措置 on every member of a household (the resident system's 抑止設定).
    pub async fn set_support_measure(&self, household: HouseholdId, on: bool) -> Result<(), ResidentSystemError> {
        let mut tx = self.begin_write().await?;
        let members = Self::members(&mut tx, household).await?;
        if members.is_empty() {
            return Err(ResidentSystemError::NotFound { what: "household", id: household.to_string() });
        }
        for mut person in members {
            person.support_measure = on;
            let seq = Self::seq_of(&mut tx, person.id).await?;
            Self::save_person(&mut tx, &person, seq).await?;
        }
        tx.commit().await.map_err(storage_error)?;
        Ok(())
    }

    /// The 登録番号 of a person's active seal registration.
    pub async fn seal_number_of(&self, person: PersonId) -> Result<String, ResidentSystemError> {
        let number: Option<String> =
            sqlx::query_scalar("SELECT registration_number FROM seals WHERE person_id = ? AND abolished_on IS NULL")
                .bind(person.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(storage_error)?;
        number.ok_or_else(|| ResidentSystemError::NotFound { what: "seal registration", id: person.to_string() })
    }

    /// The plain `LIKE` scan over the name columns that the key index replaces; kept for the benchmark baseline.
    pub async fn search_by_like_scan(&self, prefix: &str, limit: u32) -> Result<Vec<PersonId>, ResidentSystemError> {
        let key = search_key(prefix);
        let pattern = format!("{}%", key.replace('%', "\\%").replace('_', "\\_"));
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM persons WHERE kana_key LIKE ?1 ESCAPE '\\' OR kanji_key LIKE ?1 ESCAPE '\\'
             ORDER BY kana_key, id LIMIT ?2",
        )
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error)?;
        Ok(ids.into_iter().map(PersonId).collect())
    }

    fn summaries_from_rows(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        let mut hits: Vec<PersonSummary> = Vec::with_capacity(rows.len());
        for row in rows {
            let record: String = row.try_get("record").map_err(storage_error)?;
            let address: String = row.try_get("address").map_err(storage_error)?;
            let person: Person = serde_json::from_str(&record).map_err(corrupt)?;
            if hits.iter().any(|h| h.id == person.id) {
                continue;
            }
            let address: Address = serde_json::from_str(&address).map_err(corrupt)?;
            hits.push(PersonSummary {
                id: person.id,
                household_id: person.household_id,
                name: person.name,
                birth_date: person.birth_date,
                sex: person.sex,
                address,
                support_measure: person.support_measure,
                status: person.status,
            });
        }
        Ok(hits)
    }

    async fn load_person(tx: &mut Transaction<'_, Sqlite>, id: PersonId) -> Result<Person, ResidentSystemError> {
        let record: Option<String> = sqlx::query_scalar("SELECT record FROM persons WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(storage_error)?;
        let record = record.ok_or_else(|| ResidentSystemError::NotFound { what: "person", id: id.to_string() })?;
        serde_json::from_str(&record).map_err(corrupt)
    }

    async fn save_person(
        tx: &mut Transaction<'_, Sqlite>,
        person: &Person,
        seq: i64,
    ) -> Result<(), ResidentSystemError> {
        let record = serde_json::to_string(person).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO persons (id, household_id, seq, birth_date, resident_code, individual_number, kana_key,
                                  kanji_key, record)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET household_id = excluded.household_id, seq = excluded.seq,
                record = excluded.record, kana_key = excluded.kana_key, kanji_key = excluded.kanji_key",
        )
        .bind(person.id.0)
        .bind(person.household_id.0)
        .bind(seq)
        .bind(person.birth_date.to_string())
        .bind(person.resident_code.as_str())
        .bind(person.individual_number.as_str())
        .bind(generate::kana_key(&person.name))
        .bind(generate::kanji_key(&person.name))
        .bind(record)
        .execute(&mut **tx)
        .await
        .map_err(storage_error)?;
        sqlx::query("DELETE FROM name_keys WHERE person_id = ?")
            .bind(person.id.0)
            .execute(&mut **tx)
            .await
            .map_err(storage_error)?;
        for key in generate::name_keys(&person.name) {
            sqlx::query("INSERT OR IGNORE INTO name_keys (key, person_id) VALUES (?, ?)")
                .bind(key)
                .bind(person.id.0)
                .execute(&mut **tx)
                .await
                .map_err(storage_error)?;
        }
        Ok(())
    }

    async fn members(
        tx: &mut Transaction<'_, Sqlite>,
        household: HouseholdId,
    ) -> Result<Vec<Person>, ResidentSystemError> {
        let records: Vec<String> =
            sqlx::query_scalar("SELECT record FROM persons WHERE household_id = ? ORDER BY seq, id")
                .bind(household.0)
                .fetch_all(&mut **tx)
                .await
                .map_err(storage_error)?;
        records.iter().map(|r| serde_json::from_str(r).map_err(corrupt)).collect()
    }

    async fn insert_household(
        tx: &mut Transaction<'_, Sqlite>,
        head: PersonId,
        address: &Address,
    ) -> Result<HouseholdId, ResidentSystemError> {
        let json = serde_json::to_string(address).map_err(corrupt)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO households (id, head_id, address, address_key)
             VALUES ((SELECT coalesce(max(id), 0) + 1 FROM households), ?, ?, ?) RETURNING id",
        )
        .bind(head.0)
        .bind(json)
        .bind(search_key(&address.display()))
        .fetch_one(&mut **tx)
        .await
        .map_err(storage_error)?;
        Ok(HouseholdId(id))
    }

    async fn next_person_id(tx: &mut Transaction<'_, Sqlite>) -> Result<PersonId, ResidentSystemError> {
        let id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM persons")
            .fetch_one(&mut **tx)
            .await
            .map_err(storage_error)?;
        Ok(PersonId(id))
    }

    async fn replay<T: serde::de::DeserializeOwned>(
        tx: &mut Transaction<'_, Sqlite>,
        key: &str,
        kind: &str,
    ) -> Result<Option<T>, ResidentSystemError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT kind, response FROM applied_entries WHERE idempotency_key = ?")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await
                .map_err(storage_error)?;
        match row {
            None => Ok(None),
            Some((found, response)) if found == kind => serde_json::from_str(&response).map(Some).map_err(corrupt),
            Some((found, _)) => Err(rejected(
                format!("idempotency key {key} was already used for a {found} entry"),
                format!("受付キー {key} は別の種類の届出（{found}）で使用済みです"),
            )),
        }
    }

    async fn remember<T: serde::Serialize>(
        tx: &mut Transaction<'_, Sqlite>,
        key: &str,
        kind: &str,
        response: &T,
    ) -> Result<(), ResidentSystemError> {
        sqlx::query("INSERT INTO applied_entries (idempotency_key, kind, response) VALUES (?, ?, ?)")
            .bind(key)
            .bind(kind)
            .bind(serde_json::to_string(response).map_err(corrupt)?)
            .execute(&mut **tx)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, ResidentSystemError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(storage_error)
    }

    async fn apply_move(
        tx: &mut Transaction<'_, Sqlite>,
        entry: &MoveEntry,
    ) -> Result<MoveReceipt, ResidentSystemError> {
        match entry {
            MoveEntry::MoveIn { persons, address, household, moved_on, notified_on, previous_address } => {
                if persons.is_empty() {
                    return Err(rejected("a 転入 needs at least one person", "転入する人がいません"));
                }
                if moved_on > notified_on {
                    return Err(rejected(
                        "the move-in date is after the notification date",
                        "転入年月日が届出年月日より後になっています",
                    ));
                }
                let first_id = Self::next_person_id(tx).await?;
                let (household_id, mut seq) = match household {
                    HouseholdTarget::New => (Self::insert_household(tx, first_id, address).await?, 0),
                    HouseholdTarget::Existing(id) => {
                        let members = Self::members(tx, *id).await?;
                        if members.is_empty() {
                            return Err(ResidentSystemError::NotFound { what: "household", id: id.to_string() });
                        }
                        (*id, i64::try_from(members.len()).unwrap_or(i64::MAX))
                    }
                };
                let mut affected = Vec::new();
                for (offset, new) in persons.iter().enumerate() {
                    let id = PersonId(first_id.0 + i64::try_from(offset).unwrap_or(0));
                    let (resident_code, individual_number) = match (&new.resident_code, &new.individual_number) {
                        (Some(code), Some(number)) => (code.clone(), number.clone()),
                        _ => generate::identifiers_for(id.0 as u64 + 7_000_000_000)?,
                    };
                    let person = Person {
                        id,
                        household_id,
                        name: new.name.clone(),
                        birth_date: new.birth_date,
                        sex: new.sex,
                        relationship: new.relationship.clone(),
                        resident_code,
                        individual_number,
                        became_resident_on: *moved_on,
                        address_fixed_on: None,
                        moved_in: Some(MoveInRecord {
                            notified_on: *notified_on,
                            previous_address: previous_address.clone(),
                        }),
                        registry: new.registry.clone(),
                        support_measure: false,
                        status: ResidentStatus::Active,
                    };
                    Self::save_person(tx, &person, seq).await.map_err(|err| match err {
                        ResidentSystemError::Unavailable(msg) if msg.contains("UNIQUE") => rejected(
                            "the 住民票コード or 個人番号 is already recorded for another person",
                            "住民票コードまたは個人番号が他の住民と重複しています",
                        ),
                        other => other,
                    })?;
                    seq += 1;
                    affected.push(id);
                }
                Ok(MoveReceipt { idempotency_key: String::new(), affected, household: Some(household_id) })
            }
            MoveEntry::MoveOut { persons, destination, planned_on, notified_on } => {
                if persons.is_empty() {
                    return Err(rejected("a 転出 needs at least one person", "転出する人がいません"));
                }
                for id in persons {
                    let mut person = Self::load_person(tx, *id).await?;
                    if person.status != ResidentStatus::Active {
                        return Err(rejected(
                            format!("person {id} has already notified a move-out"),
                            format!("{}さんはすでに転出届が出ています", person.name.display()),
                        ));
                    }
                    if planned_on < notified_on && (*notified_on - *planned_on).get_days() > 14 {
                        return Err(rejected(
                            "the planned move-out date is more than 14 days before the notification",
                            "転出予定年月日が届出年月日より14日を超えて前です",
                        ));
                    }
                    person.status =
                        ResidentStatus::MovedOut { destination: destination.clone(), planned_on: *planned_on };
                    let seq = Self::seq_of(tx, *id).await?;
                    Self::save_person(tx, &person, seq).await?;
                    // 印鑑登録 is cancelled automatically on 転出.
                    sqlx::query("UPDATE seals SET abolished_on = ? WHERE person_id = ? AND abolished_on IS NULL")
                        .bind(planned_on.to_string())
                        .bind(id.0)
                        .execute(&mut **tx)
                        .await
                        .map_err(storage_error)?;
                }
                Ok(MoveReceipt { idempotency_key: String::new(), affected: persons.clone(), household: None })
            }
            MoveEntry::MoveWithin { persons, new_address, moved_on, notified_on } => {
                let Some(first) = persons.first() else {
                    return Err(rejected("a 転居 needs at least one person", "転居する人がいません"));
                };
                if moved_on > notified_on {
                    return Err(rejected(
                        "the moving date is after the notification date",
                        "転居年月日が届出年月日より後になっています",
                    ));
                }
                let first_person = Self::load_person(tx, *first).await?;
                let members = Self::members(tx, first_person.household_id).await?;
                let active: Vec<PersonId> =
                    members.iter().filter(|p| p.status == ResidentStatus::Active).map(|p| p.id).collect();
                let whole_household = active.len() == persons.len() && active.iter().all(|id| persons.contains(id));
                let household_id = if whole_household {
                    let json = serde_json::to_string(new_address).map_err(corrupt)?;
                    sqlx::query("UPDATE households SET address = ?, address_key = ? WHERE id = ?")
                        .bind(json)
                        .bind(search_key(&new_address.display()))
                        .bind(first_person.household_id.0)
                        .execute(&mut **tx)
                        .await
                        .map_err(storage_error)?;
                    first_person.household_id
                } else {
                    Self::insert_household(tx, *first, new_address).await?
                };
                for (index, id) in persons.iter().enumerate() {
                    let mut person = Self::load_person(tx, *id).await?;
                    if person.status != ResidentStatus::Active {
                        return Err(rejected(
                            format!("person {id} is not an active resident"),
                            format!("{}さんは現在の住民ではありません", person.name.display()),
                        ));
                    }
                    person.address_fixed_on = Some(*moved_on);
                    let seq = if whole_household {
                        Self::seq_of(tx, *id).await?
                    } else {
                        person.household_id = household_id;
                        person.relationship = if index == 0 { "世帯主".to_string() } else { person.relationship };
                        i64::try_from(index).unwrap_or(0)
                    };
                    Self::save_person(tx, &person, seq).await?;
                }
                Ok(MoveReceipt {
                    idempotency_key: String::new(),
                    affected: persons.clone(),
                    household: Some(household_id),
                })
            }
            MoveEntry::HouseholdChange { household, new_head, relationships, changed_on: _ } => {
                let members = Self::members(tx, *household).await?;
                if members.is_empty() {
                    return Err(ResidentSystemError::NotFound { what: "household", id: household.to_string() });
                }
                if !members.iter().any(|p| p.id == *new_head) {
                    return Err(rejected(
                        format!("person {new_head} is not a member of household {household}"),
                        "新しい世帯主がこの世帯の世帯員ではありません",
                    ));
                }
                let mut affected = Vec::new();
                for (index, mut person) in members.into_iter().enumerate() {
                    if let Some(change) = relationships.iter().find(|change| change.person == person.id) {
                        person.relationship = change.relationship.clone();
                    }
                    if person.id == *new_head {
                        person.relationship = "世帯主".to_string();
                    }
                    let seq = if person.id == *new_head { 0 } else { i64::try_from(index).unwrap_or(0) + 1 };
                    Self::save_person(tx, &person, seq).await?;
                    affected.push(person.id);
                }
                sqlx::query("UPDATE households SET head_id = ? WHERE id = ?")
                    .bind(new_head.0)
                    .bind(household.0)
                    .execute(&mut **tx)
                    .await
                    .map_err(storage_error)?;
                Ok(MoveReceipt { idempotency_key: String::new(), affected, household: Some(*household) })
            }
        }
    }

    async fn seq_of(tx: &mut Transaction<'_, Sqlite>, id: PersonId) -> Result<i64, ResidentSystemError> {
        sqlx::query_scalar("SELECT seq FROM persons WHERE id = ?")
            .bind(id.0)
            .fetch_one(&mut **tx)
            .await
            .map_err(storage_error)
    }

    async fn load_seal(
        tx: &mut Transaction<'_, Sqlite>,
        registration_number: &str,
    ) -> Result<SealRegistration, ResidentSystemError> {
        let row: Option<SealRow> = sqlx::query_as(
            "SELECT registration_number, person_id, registered_on, abolished_on, impression
             FROM seals WHERE registration_number = ?",
        )
        .bind(registration_number)
        .fetch_optional(&mut **tx)
        .await
        .map_err(storage_error)?;
        let Some((number, person_id, registered_on, abolished_on, impression_png)) = row else {
            return Err(ResidentSystemError::NotFound {
                what: "seal registration",
                id: registration_number.to_string(),
            });
        };
        Ok(SealRegistration {
            registration_number: number,
            person_id: PersonId(person_id),
            registered_on: Date::from_str(&registered_on).map_err(corrupt)?,
            impression_png,
            abolished_on: abolished_on.map(|d| Date::from_str(&d)).transpose().map_err(corrupt)?,
        })
    }
}

#[async_trait]
impl ResidentSystem for ReferenceResidentSystem {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        let limit = match query.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(ResidentSystemError::InvalidQuery(format!(
                    "at most {MAX_LIMIT} hits may be asked for, not {n}"
                )));
            }
            n => n,
        };
        let address_range = query.address_prefix.as_deref().map(search_key).filter(|k| !k.is_empty()).map(|key| {
            // Addresses are keyed from the prefecture on; accept a prefix given from the 町域 as well.
            let full = if key.starts_with("東京都") { key } else { format!("東京都新宿区{key}") };
            let upper = prefix_upper_bound(&full);
            (full, upper)
        });
        let birth = query.birth_date.map(|d| d.to_string());
        let fetch = i64::from(limit) * 2;
        let rows = if let Some(code) = query.resident_code.as_deref() {
            sqlx::query(
                "SELECT p.record, h.address FROM persons p JOIN households h ON h.id = p.household_id
                 WHERE p.resident_code = ?",
            )
            .bind(code.trim())
            .fetch_all(&self.pool)
            .await
        } else if let Some(prefix) = query.name_prefix.as_deref() {
            let key = search_key(prefix);
            if key.is_empty() {
                return Err(ResidentSystemError::InvalidQuery("the name prefix is empty".to_string()));
            }
            let upper = prefix_upper_bound(&key);
            let (addr_low, addr_high) = address_range.clone().unzip();
            sqlx::query(
                "SELECT p.record, h.address FROM name_keys k
                 JOIN persons p ON p.id = k.person_id
                 JOIN households h ON h.id = p.household_id
                 WHERE k.key >= ?1 AND k.key < ?2
                   AND (?3 IS NULL OR p.birth_date = ?3)
                   AND (?4 IS NULL OR (h.address_key >= ?4 AND h.address_key < ?5))
                 ORDER BY k.key, k.person_id LIMIT ?6",
            )
            .bind(key)
            .bind(upper)
            .bind(birth)
            .bind(addr_low)
            .bind(addr_high)
            .bind(fetch)
            .fetch_all(&self.pool)
            .await
        } else if let Some(birth) = birth {
            let (addr_low, addr_high) = address_range.clone().unzip();
            sqlx::query(
                "SELECT p.record, h.address FROM persons p JOIN households h ON h.id = p.household_id
                 WHERE p.birth_date = ?1 AND (?2 IS NULL OR (h.address_key >= ?2 AND h.address_key < ?3))
                 ORDER BY p.id LIMIT ?4",
            )
            .bind(birth)
            .bind(addr_low)
            .bind(addr_high)
            .bind(fetch)
            .fetch_all(&self.pool)
            .await
        } else if let Some((low, high)) = address_range {
            sqlx::query(
                "SELECT p.record, h.address FROM households h JOIN persons p ON p.household_id = h.id
                 WHERE h.address_key >= ?1 AND h.address_key < ?2 ORDER BY h.address_key, p.seq LIMIT ?3",
            )
            .bind(low)
            .bind(high)
            .bind(fetch)
            .fetch_all(&self.pool)
            .await
        } else {
            return Err(ResidentSystemError::InvalidQuery(
                "give a name prefix, a birth date, an address or a 住民票コード".to_string(),
            ));
        }
        .map_err(storage_error)?;
        let mut hits = Self::summaries_from_rows(rows)?;
        hits.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(hits)
    }

    async fn household(&self, id: HouseholdId) -> Result<Household, ResidentSystemError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let row: Option<(i64, String)> = sqlx::query_as("SELECT head_id, address FROM households WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage_error)?;
        let Some((head, address)) = row else {
            return Err(ResidentSystemError::NotFound { what: "household", id: id.to_string() });
        };
        let members = Self::members(&mut tx, id).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(Household { id, head: PersonId(head), address: serde_json::from_str(&address).map_err(corrupt)?, members })
    }

    async fn person(&self, id: PersonId) -> Result<Person, ResidentSystemError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let person = Self::load_person(&mut tx, id).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(person)
    }

    async fn submit_move(&self, submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError> {
        let mut tx = self.begin_write().await?;
        if let Some(receipt) = Self::replay(&mut tx, &submission.idempotency_key, "move").await? {
            return Ok(receipt);
        }
        let mut receipt = Self::apply_move(&mut tx, &submission.entry).await?;
        receipt.idempotency_key.clone_from(&submission.idempotency_key);
        Self::remember(&mut tx, &submission.idempotency_key, "move", &receipt).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(receipt)
    }

    async fn register_seal(&self, application: &SealApplication) -> Result<SealRegistration, ResidentSystemError> {
        let mut tx = self.begin_write().await?;
        if let Some(number) = Self::replay::<String>(&mut tx, &application.idempotency_key, "seal-register").await? {
            return Self::load_seal(&mut tx, &number).await;
        }
        let person = Self::load_person(&mut tx, application.person_id).await?;
        if person.status != ResidentStatus::Active {
            return Err(rejected(
                "only an active resident can register a seal",
                "住民登録のない方は印鑑登録できません",
            ));
        }
        let age = seal_age(person.birth_date, application.registered_on);
        if age < 15 {
            return Err(rejected("a seal can be registered from the age of 15", "15歳未満の方は印鑑登録できません"));
        }
        let existing: i64 =
            sqlx::query_scalar("SELECT count(*) FROM seals WHERE person_id = ? AND abolished_on IS NULL")
                .bind(application.person_id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(storage_error)?;
        if existing > 0 {
            return Err(rejected("the person already has a registered seal", "すでに印鑑登録があります（一人一印）"));
        }
        if seal_image::decode_dimensions(&application.impression_png).is_none() {
            return Err(rejected("the seal impression is not a PNG image", "印影の画像が読み取れません"));
        }
        let next: i64 =
            sqlx::query_scalar("SELECT coalesce(max(CAST(registration_number AS INTEGER)), 10000000) + 1 FROM seals")
                .fetch_one(&mut *tx)
                .await
                .map_err(storage_error)?;
        let number = format!("{next:08}");
        sqlx::query(
            "INSERT INTO seals (registration_number, person_id, registered_on, abolished_on, impression)
             VALUES (?, ?, ?, NULL, ?)",
        )
        .bind(&number)
        .bind(application.person_id.0)
        .bind(application.registered_on.to_string())
        .bind(&application.impression_png)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
        Self::remember(&mut tx, &application.idempotency_key, "seal-register", &number).await?;
        let registration = Self::load_seal(&mut tx, &number).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(registration)
    }

    async fn abolish_seal(&self, abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError> {
        let mut tx = self.begin_write().await?;
        if let Some(number) = Self::replay::<String>(&mut tx, &abolition.idempotency_key, "seal-abolish").await? {
            return Self::load_seal(&mut tx, &number).await;
        }
        let seal = Self::load_seal(&mut tx, &abolition.registration_number).await?;
        if seal.abolished_on.is_some() {
            return Err(rejected("the seal registration is already abolished", "この印鑑登録はすでに廃止されています"));
        }
        sqlx::query("UPDATE seals SET abolished_on = ? WHERE registration_number = ?")
            .bind(abolition.abolished_on.to_string())
            .bind(&abolition.registration_number)
            .execute(&mut *tx)
            .await
            .map_err(storage_error)?;
        Self::remember(&mut tx, &abolition.idempotency_key, "seal-abolish", &abolition.registration_number).await?;
        let seal = Self::load_seal(&mut tx, &abolition.registration_number).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(seal)
    }

    async fn seal_by_number(&self, registration_number: &str) -> Result<SealRegistration, ResidentSystemError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let seal = Self::load_seal(&mut tx, registration_number.trim()).await?;
        tx.commit().await.map_err(storage_error)?;
        Ok(seal)
    }
}

/// Age in full years on `on` (a person turns a year older on the day before the birthday under 年齢計算ニ関スル法律;
/// for the 15-year rule the birthday itself is used, as wards do).
fn seal_age(birth: Date, on: Date) -> i16 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}
