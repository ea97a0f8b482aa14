//! The deterministic synthetic ward population: the same seed and household count always give the same residents.
//! Households of 1–8 at real 新宿区 addresses, common and rare names with readings, foreign residents, some persons
//! under 支援措置 and some with seal registrations. Bulk-loaded in batches so a million persons take seconds.

use std::path::Path;

use jiff::civil::{Date, date};
use jiff::{Span, ToSpan as _};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};

use super::names::{BUILDINGS, FOREIGN_NAMES, GIVEN_FEMALE, GIVEN_MALE, HONSEKI_PLACES, RESIDENCE_STATUSES, SURNAMES};
use super::{INDEXES, SCHEMA, SCHEMA_VERSION, connect_options, seal_image};
use crate::identifiers::{IndividualNumber, ResidentRecordCode};
use crate::port::ResidentSystemError;
use crate::postal::{PostalArea, residential_areas, shinjuku_areas};
use crate::search_key::search_key;
use crate::types::{Address, HouseholdId, MoveInRecord, Name, Person, PersonId, Registry, ResidentStatus, Sex};

/// The day the synthetic population is "as of": fixed so generation never depends on the clock.
pub const POPULATION_AS_OF: Date = date(2026, 10, 1);

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationOptions {
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// Number of households.
    pub households: u64,
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerationSummary {
    /// Households written.
    pub households: u64,
    /// Persons written.
    pub persons: u64,
    /// Foreign residents among them.
    pub foreign_persons: u64,
    /// Persons under 支援措置.
    pub support_measure_persons: u64,
    /// Seal registrations.
    pub seals: u64,
}

/// The reading key (kana, or alphabet for foreign residents) used by the baseline scan.
pub fn kana_key(name: &Name) -> String {
    match (&name.family_kana, &name.given_kana, &name.alphabet) {
        (Some(f), Some(g), _) => search_key(&format!("{f}{g}")),
        (_, _, Some(alpha)) => search_key(alpha),
        _ => String::new(),
    }
}

/// The written-name key used by the baseline scan.
pub fn kanji_key(name: &Name) -> String {
    search_key(&format!("{}{}", name.family, name.given))
}

/// Every key a person can be found by: reading, written name, alphabet name, 通称 and 旧氏.
pub fn name_keys(name: &Name) -> Vec<String> {
    let mut keys = vec![kana_key(name), kanji_key(name)];
    if let Some(alpha) = &name.alphabet {
        keys.push(search_key(alpha));
    }
    if let Some(common) = &name.common_name {
        keys.push(search_key(common));
    }
    if let Some(former) = &name.former_family {
        keys.push(search_key(&format!("{former}{}", name.given)));
    }
    if let (Some(former_kana), Some(given_kana)) = (&name.former_family_kana, &name.given_kana) {
        keys.push(search_key(&format!("{former_kana}{given_kana}")));
    }
    keys.retain(|k| !k.is_empty());
    keys.sort();
    keys.dedup();
    keys
}

/// A unique, check-digit-correct 住民票コード and 個人番号 for the `index`-th generated person. Multiplying by a
/// number coprime to 10 is a bijection modulo a power of ten, so distinct indexes give distinct numbers.
pub fn identifiers_for(index: u64) -> Result<(ResidentRecordCode, IndividualNumber), ResidentSystemError> {
    let code_body = format!("{:010}", (index.wrapping_mul(7_919).wrapping_add(1_234_567)) % 10_000_000_000);
    let number_body = format!("{:011}", (index.wrapping_mul(104_729).wrapping_add(52_918_367)) % 100_000_000_000);
    let invalid = |e: crate::identifiers::IdentifierError| ResidentSystemError::InvalidResponse(e.to_string());
    let code_digit = ResidentRecordCode::compute_check_digit(&code_body).map_err(invalid)?;
    let number_digit = IndividualNumber::compute_check_digit(&number_body).map_err(invalid)?;
    let (code, _warning) = ResidentRecordCode::parse(&format!("{code_body}{code_digit}")).map_err(invalid)?;
    let number = IndividualNumber::parse(&format!("{number_body}{number_digit}")).map_err(invalid)?;
    Ok((code, number))
}

fn pick_weighted<'a>(rng: &mut ChaCha8Rng, items: &'a [(&'a str, &'a str, u32)]) -> (&'a str, &'a str) {
    let total: u32 = items.iter().map(|(_, _, w)| *w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (written, reading, weight) in items {
        if roll < *weight {
            return (written, reading);
        }
        roll -= weight;
    }
    items.first().map_or(("", ""), |(a, b, _)| (a, b))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn household_size(rng: &mut ChaCha8Rng) -> usize {
    // Roughly the ward's distribution: many single households, few large ones.
    let roll = rng.random_range(0..1000);
    match roll {
        0..380 => 1,
        380..660 => 2,
        660..820 => 3,
        820..940 => 4,
        940..980 => 5,
        980..992 => 6,
        992..997 => 7,
        _ => 8,
    }
}

fn random_date_between(rng: &mut ChaCha8Rng, from: Date, to: Date) -> Date {
    let days = (to - from).get_days().max(0);
    let offset = rng.random_range(0..=days);
    from.checked_add(Span::new().days(offset)).unwrap_or(from)
}

fn birth_date_for_age(rng: &mut ChaCha8Rng, min_age: i16, max_age: i16) -> Date {
    let age = rng.random_range(min_age..=max_age.max(min_age));
    let latest = POPULATION_AS_OF.checked_sub(age.years()).unwrap_or(POPULATION_AS_OF);
    let earliest = latest.checked_sub(364.days()).unwrap_or(latest);
    random_date_between(rng, earliest, latest)
}

struct Generated {
    households: Vec<(i64, i64, String, String)>,
    persons: Vec<Person>,
    seqs: Vec<i64>,
    seals: Vec<(String, i64, String, Vec<u8>)>,
}

struct Generator {
    rng: ChaCha8Rng,
    areas: Vec<PostalArea>,
    next_person: i64,
    next_seal: u64,
    summary: GenerationSummary,
}

impl Generator {
    fn address(&mut self) -> Address {
        let area = pick(&mut self.rng, &self.areas).clone();
        let town = if area.has_chome {
            let chome = ["一", "二", "三", "四", "五"][self.rng.random_range(0..3)];
            format!("{}{}丁目", area.town, chome)
        } else {
            area.town.clone()
        };
        let block = format!("{}番{}号", self.rng.random_range(1..=30), self.rng.random_range(1..=20));
        let building = (self.rng.random_range(0..100) < 45).then(|| {
            format!(
                "{}{}号室",
                pick(&mut self.rng, BUILDINGS),
                self.rng.random_range(1..=9) * 100 + self.rng.random_range(1..=12)
            )
        });
        Address { postal_code: area.postal_code, prefecture: area.prefecture, city: area.city, town, block, building }
    }

    fn japanese_name(&mut self, family: (&str, &str), sex: Sex) -> Name {
        let given = match sex {
            Sex::Male => pick_weighted(&mut self.rng, GIVEN_MALE),
            Sex::Female => pick_weighted(&mut self.rng, GIVEN_FEMALE),
        };
        Name {
            family: family.0.to_string(),
            given: given.0.to_string(),
            family_kana: Some(family.1.to_string()),
            given_kana: Some(given.1.to_string()),
            former_family: None,
            former_family_kana: None,
            common_name: None,
            alphabet: None,
        }
    }

    fn household(&mut self, household_id: i64, out: &mut Generated) -> Result<(), ResidentSystemError> {
        let size = household_size(&mut self.rng);
        let address = self.address();
        let foreign = self.rng.random_range(0..1000) < 35;
        let support_measure = self.rng.random_range(0..1000) < 4;
        let family = pick_weighted(&mut self.rng, SURNAMES);
        let honseki = pick(&mut self.rng, HONSEKI_PLACES).to_string();
        let foreign_origin = *pick(&mut self.rng, FOREIGN_NAMES);
        let head_sex = if self.rng.random_bool(0.6) { Sex::Male } else { Sex::Female };
        let head_birth = if size == 1 {
            birth_date_for_age(&mut self.rng, 18, 95)
        } else {
            birth_date_for_age(&mut self.rng, 28, 85)
        };
        let born_here = self.rng.random_bool(0.25);
        let became_resident = if born_here {
            head_birth
        } else {
            random_date_between(&mut self.rng, head_birth.max(date(1975, 1, 1)), POPULATION_AS_OF)
        };
        let previous_address = pick(&mut self.rng, HONSEKI_PLACES)
            .trim_end_matches(|c: char| c == '地' || c == '番' || c.is_ascii_digit())
            .to_string();
        let mut head_name: Option<String> = None;
        for member in 0..size {
            let id = self.next_person;
            self.next_person += 1;
            let (relationship, sex, birth_date) = match member {
                0 => ("世帯主".to_string(), head_sex, head_birth),
                1 => {
                    let sex = if head_sex == Sex::Male { Sex::Female } else { Sex::Male };
                    let label = if sex == Sex::Female { "妻" } else { "夫" };
                    let age_shift = self.rng.random_range(-6..=6);
                    let around = head_birth.checked_add(age_shift.years()).unwrap_or(head_birth);
                    let adult_limit = POPULATION_AS_OF.checked_sub(18.years()).unwrap_or(POPULATION_AS_OF);
                    let birth =
                        random_date_between(&mut self.rng, around.checked_sub(180.days()).unwrap_or(around), around)
                            .min(adult_limit);
                    (label.to_string(), sex, birth)
                }
                _ => {
                    let sex = if self.rng.random_bool(0.5) { Sex::Male } else { Sex::Female };
                    let earliest = head_birth.checked_add(20.years()).unwrap_or(head_birth);
                    let latest = head_birth.checked_add(45.years()).unwrap_or(head_birth).min(POPULATION_AS_OF);
                    (("子").to_string(), sex, random_date_between(&mut self.rng, earliest.min(latest), latest))
                }
            };
            let (name, registry) = if foreign {
                let (family_alpha, _, _, nationality) = foreign_origin;
                let given = *pick(&mut self.rng, FOREIGN_NAMES);
                let common_name = (self.rng.random_range(0..100) < 10).then(|| {
                    let common_family = pick_weighted(&mut self.rng, SURNAMES);
                    let common = self.japanese_name(common_family, sex);
                    format!("{}\u{3000}{}", common.family, common.given)
                });
                let name = Name {
                    family: String::new(),
                    given: String::new(),
                    family_kana: None,
                    given_kana: None,
                    former_family: None,
                    former_family_kana: None,
                    common_name,
                    alphabet: Some(format!("{family_alpha} {}", given.1)),
                };
                let registry = Registry::Foreign {
                    nationality: nationality.to_string(),
                    residence_status: pick(&mut self.rng, RESIDENCE_STATUSES).to_string(),
                    residence_expires_on: random_date_between(&mut self.rng, POPULATION_AS_OF, date(2031, 3, 31)),
                    residence_card_number: format!(
                        "{}{}{:08}{}{}",
                        char::from(b'A' + self.rng.random_range(0..26u8)),
                        char::from(b'A' + self.rng.random_range(0..26u8)),
                        self.rng.random_range(0..100_000_000u32),
                        char::from(b'A' + self.rng.random_range(0..26u8)),
                        char::from(b'A' + self.rng.random_range(0..26u8)),
                    ),
                };
                self.summary.foreign_persons += 1;
                (name, registry)
            } else {
                let mut name = self.japanese_name(family, sex);
                if member == 1 && sex == Sex::Female && self.rng.random_range(0..100) < 8 {
                    let former = pick_weighted(&mut self.rng, SURNAMES);
                    name.former_family = Some(former.0.to_string());
                    name.former_family_kana = Some(former.1.to_string());
                }
                let head_of_register =
                    head_name.clone().unwrap_or_else(|| format!("{}\u{3000}{}", name.family, name.given));
                (name, Registry::Japanese { honseki: honseki.clone(), head_of_family_register: head_of_register })
            };
            if member == 0 {
                head_name = Some(name.display());
            }
            let (resident_code, individual_number) = identifiers_for(u64::try_from(id).unwrap_or(0))?;
            let person_became_resident = became_resident.max(birth_date);
            let moved_in = (!born_here && person_became_resident > birth_date).then(|| MoveInRecord {
                notified_on: person_became_resident
                    .checked_add(self.rng.random_range(0..14).days())
                    .unwrap_or(person_became_resident),
                previous_address: previous_address.clone(),
            });
            let address_fixed_on = (self.rng.random_range(0..100) < 20)
                .then(|| random_date_between(&mut self.rng, person_became_resident, POPULATION_AS_OF));
            let person = Person {
                id: PersonId(id),
                household_id: HouseholdId(household_id),
                name,
                birth_date,
                sex,
                relationship,
                resident_code,
                individual_number,
                became_resident_on: person_became_resident,
                address_fixed_on,
                moved_in,
                registry,
                support_measure,
                status: ResidentStatus::Active,
            };
            if support_measure {
                self.summary.support_measure_persons += 1;
            }
            let adult = (POPULATION_AS_OF - birth_date).get_days() >= 15 * 366;
            if adult && self.rng.random_range(0..100) < 12 {
                let number = self.next_seal;
                self.next_seal += 1;
                let registered_on = random_date_between(
                    &mut self.rng,
                    person_became_resident.max(birth_date.checked_add(15.years()).unwrap_or(birth_date)),
                    POPULATION_AS_OF,
                );
                out.seals.push((
                    format!("{number:08}"),
                    id,
                    registered_on.to_string(),
                    seal_image::synthetic_impression(number),
                ));
                self.summary.seals += 1;
            }
            out.seqs.push(i64::try_from(member).unwrap_or(0));
            out.persons.push(person);
            self.summary.persons += 1;
        }
        let head_id = self.next_person - i64::try_from(size).unwrap_or(0);
        let address_json =
            serde_json::to_string(&address).map_err(|e| ResidentSystemError::InvalidResponse(e.to_string()))?;
        out.households.push((household_id, head_id, address_json, search_key(&address.display())));
        self.summary.households += 1;
        Ok(())
    }
}

fn storage(err: sqlx::Error) -> ResidentSystemError {
    ResidentSystemError::Unavailable(format!("reference store: {err}"))
}

async fn write_batch(tx: &mut sqlx::Transaction<'_, Sqlite>, batch: &Generated) -> Result<(), ResidentSystemError> {
    if !batch.households.is_empty() {
        QueryBuilder::<Sqlite>::new("INSERT INTO households (id, head_id, address, address_key) ")
            .push_values(&batch.households, |mut b, (id, head, address, key)| {
                b.push_bind(*id).push_bind(*head).push_bind(address.as_str()).push_bind(key.as_str());
            })
            .build()
            .execute(&mut **tx)
            .await
            .map_err(storage)?;
    }
    for chunk in batch.persons.chunks(500).zip(batch.seqs.chunks(500)) {
        let (persons, seqs) = chunk;
        let mut rows = Vec::with_capacity(persons.len());
        for (person, seq) in persons.iter().zip(seqs) {
            let record =
                serde_json::to_string(person).map_err(|e| ResidentSystemError::InvalidResponse(e.to_string()))?;
            rows.push((person, *seq, record));
        }
        QueryBuilder::<Sqlite>::new(
            "INSERT INTO persons (id, household_id, seq, birth_date, resident_code, individual_number, kana_key, kanji_key, record) ",
        )
        .push_values(&rows, |mut b, (person, seq, record)| {
            b.push_bind(person.id.0)
                .push_bind(person.household_id.0)
                .push_bind(*seq)
                .push_bind(person.birth_date.to_string())
                .push_bind(person.resident_code.as_str().to_string())
                .push_bind(person.individual_number.as_str().to_string())
                .push_bind(kana_key(&person.name))
                .push_bind(kanji_key(&person.name))
                .push_bind(record.as_str());
        })
        .build()
        .execute(&mut **tx)
        .await
        .map_err(storage)?;
        let keys: Vec<(String, i64)> =
            persons.iter().flat_map(|p| name_keys(&p.name).into_iter().map(move |k| (k, p.id.0))).collect();
        QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO name_keys (key, person_id) ")
            .push_values(&keys, |mut b, (key, id)| {
                b.push_bind(key.as_str()).push_bind(*id);
            })
            .build()
            .execute(&mut **tx)
            .await
            .map_err(storage)?;
    }
    for chunk in batch.seals.chunks(500) {
        if chunk.is_empty() {
            continue;
        }
        QueryBuilder::<Sqlite>::new(
            "INSERT INTO seals (registration_number, person_id, registered_on, abolished_on, impression) ",
        )
        .push_values(chunk, |mut b, (number, person, on, png)| {
            b.push_bind(number.as_str())
                .push_bind(*person)
                .push_bind(on.as_str())
                .push_bind(None::<String>)
                .push_bind(png.as_slice());
        })
        .build()
        .execute(&mut **tx)
        .await
        .map_err(storage)?;
    }
    Ok(())
}

/// Generate a new reference store at `path` (which must not exist yet). `progress(done, total)` is called after
/// every batch of households.
pub async fn generate(
    path: &Path,
    options: GenerationOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<GenerationSummary, ResidentSystemError> {
    if path.exists() {
        return Err(ResidentSystemError::Rejected {
            reason: format!("{} already exists; choose a new file", path.display()),
            reason_ja: format!("{} はすでに存在します。新しいファイル名を指定してください", path.display()),
        });
    }
    if options.households == 0 {
        return Err(ResidentSystemError::InvalidQuery("the number of households must be at least 1".to_string()));
    }
    let areas = residential_areas(&shinjuku_areas());
    if areas.is_empty() {
        return Err(ResidentSystemError::InvalidResponse(
            "the shipped postal data has no residential areas".to_string(),
        ));
    }
    // Bulk load without a journal; the finished file is switched to WAL + synchronous=FULL at the end.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            connect_options(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Off)
                .synchronous(SqliteSynchronous::Off),
        )
        .await
        .map_err(storage)?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(storage)?;
    let mut generator = Generator {
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        areas,
        next_person: 1,
        next_seal: 10_000_001,
        summary: GenerationSummary::default(),
    };
    let mut tx = pool.begin().await.map_err(storage)?;
    const BATCH: u64 = 2_000;
    let mut household_id = 0i64;
    let mut done = 0u64;
    while done < options.households {
        let mut batch = Generated { households: Vec::new(), persons: Vec::new(), seqs: Vec::new(), seals: Vec::new() };
        let this_batch = BATCH.min(options.households - done);
        for _ in 0..this_batch {
            household_id += 1;
            generator.household(household_id, &mut batch)?;
        }
        write_batch(&mut tx, &batch).await?;
        done += this_batch;
        progress(done, options.households);
    }
    sqlx::query("INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('seed', ?), ('households', ?)")
        .bind(SCHEMA_VERSION)
        .bind(options.seed.to_string())
        .bind(options.households.to_string())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
    tx.commit().await.map_err(storage)?;
    sqlx::raw_sql(INDEXES).execute(&pool).await.map_err(storage)?;
    sqlx::raw_sql("PRAGMA journal_mode = WAL; ANALYZE;").execute(&pool).await.map_err(storage)?;
    pool.close().await;
    Ok(generator.summary)
}
