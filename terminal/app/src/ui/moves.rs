//! The operator's 住民異動 forms: 転居, 転出 (a paper 転出証明書 — opened from the post's list once the entry is
//! committed — or 特例転出 with the card), 世帯変更, and 転入 (into the chosen resident's household, or a new household
//! with nobody to search for, incl. 特例転入 with the card). Who moves is ticked from the household's members as core
//! lists them (name, birth date, 続柄 only); dates are typed in 和暦 or 西暦 and the 届出日 is the counter's today.
//! The entry built here is what the reviewer reads line by line and what the outbox sends after approval; core checks
//! it by the law ([`CounterRequest::validate_on`]) and each reason is shown beside its field.

use backend_adapter::types::{
    Address, HouseholdId, HouseholdTarget, MoveEntry, Name, NewPerson, PersonId, PersonSummary, Registry,
    RelationshipChange, Sex,
};
use egui::RichText;
use jiff::civil::Date;
use madoguchi_core::counter::HouseholdMember;
use madoguchi_core::error::FieldError;
use madoguchi_core::request::{CounterRequest, TaskRequest, late_notice_days};
use madoguchi_core::wareki::{date_label, parse_date};

use super::operator::FormTask;
use super::{TerminalApp, field_message};

/// The 異動 part of the request form, as typed.
#[derive(Debug, Clone, Default)]
pub(super) struct MoveForm {
    /// Who moves (転居・転出), ticked among the household's members.
    pub(super) moving: Vec<PersonId>,
    /// 世帯変更: the new 世帯主 …
    pub(super) new_head: Option<PersonId>,
    /// … and each member's 続柄 afterwards.
    pub(super) relationships: Vec<(PersonId, String)>,
    /// 転居・転入年月日 or 転出予定年月日, in 和暦 or 西暦.
    pub(super) moved_on: String,
    /// The new address in the ward (転居・転入): 郵便番号 → 町域, then 番地 and 方書.
    pub(super) postal_code: String,
    pub(super) town: String,
    pub(super) block: String,
    pub(super) building: String,
    /// 転出先.
    pub(super) destination: String,
    /// 特例転出・特例転入 with the マイナンバーカード (nothing printed).
    pub(super) special_card: bool,
    /// 特例転入: the 転出予定年月日 of the 転出証明書情報 (read over 住基ネット), in 和暦 or 西暦.
    pub(super) card_planned_on: String,
    /// 転入前の住所.
    pub(super) came_from: String,
    /// Persons moving in, 世帯主 first for a new household.
    pub(super) newcomers: Vec<NewcomerForm>,
}

/// One person moving in, as typed from the 転出証明書 (or read over 住基ネット for 特例転入).
#[derive(Debug, Clone, Default)]
pub(super) struct NewcomerForm {
    pub(super) family: String,
    pub(super) given: String,
    pub(super) family_kana: String,
    pub(super) given_kana: String,
    pub(super) birth_date: String,
    pub(super) female: bool,
    pub(super) relationship: String,
    /// 本籍 and 筆頭者 (a Japanese national).
    pub(super) honseki: String,
    pub(super) register_head: String,
    /// 外国人住民 (住基法30条の45): the name in the alphabet and the items of the 在留カード instead of 本籍.
    pub(super) foreign: bool,
    pub(super) alphabet: String,
    pub(super) nationality: String,
    pub(super) residence_status: String,
    pub(super) residence_expires_on: String,
    pub(super) residence_card_number: String,
    /// 通称 (a 外国人住民's registered common name), if one is asked for.
    pub(super) common_name: String,
}

/// The household whose members the form shows.
#[derive(Debug, Clone)]
pub struct LoadedHousehold {
    /// 世帯番号.
    pub id: HouseholdId,
    /// Its members now (active residents).
    pub members: Vec<HouseholdMember>,
}

/// The fields of the move form that carry their own message (the rest are shown at the end of the form).
pub(super) const MOVE_FIELDS: [&str; 10] = [
    "move.persons",
    "move.address",
    "move.postal",
    "move.moved_on",
    "move.notified_on",
    "move.destination",
    "move.special",
    "move.previous_address",
    "move.relationships",
    "move.card_planned_on",
];

impl MoveForm {
    /// Fit the form to a household just loaded: only its members can move (the chosen person, unless a corrected
    /// request already names who), and each member keeps their 続柄 unless the request changes it.
    pub(super) fn start_on(&mut self, household: &LoadedHousehold, chosen: Option<PersonId>) {
        let member = |id: &PersonId| household.members.iter().any(|m| m.id == *id);
        self.moving.retain(member);
        if self.moving.is_empty() {
            self.moving = chosen.filter(member).into_iter().collect();
        }
        self.new_head = self.new_head.filter(member);
        let relationships = std::mem::take(&mut self.relationships);
        self.relationships = household
            .members
            .iter()
            .map(|m| {
                let asked = relationships.iter().find(|(id, _)| *id == m.id).map(|(_, r)| r.clone());
                (m.id, asked.unwrap_or_else(|| m.relationship.clone()))
            })
            .collect();
    }

    /// The form filled from an entry (a returned case being corrected).
    pub(super) fn of_entry(
        entry: &MoveEntry,
        special_card: bool,
        card_planned_on: Option<Date>,
    ) -> (FormTask, MoveForm) {
        let card_planned_on = card_planned_on.map(|date| date.to_string()).unwrap_or_default();
        let mut form = MoveForm { special_card, card_planned_on, ..MoveForm::default() };
        let address = |form: &mut MoveForm, address: &Address| {
            form.postal_code = address.postal_code.clone();
            form.town = address.town.clone();
            form.block = address.block.clone();
            form.building = address.building.clone().unwrap_or_default();
        };
        let task = match entry {
            MoveEntry::MoveWithin { persons, new_address, moved_on, .. } => {
                form.moving = persons.clone();
                form.moved_on = moved_on.to_string();
                address(&mut form, new_address);
                FormTask::MoveWithin
            }
            MoveEntry::MoveOut { persons, destination, planned_on, .. } => {
                form.moving = persons.clone();
                form.destination = destination.clone();
                form.moved_on = planned_on.to_string();
                FormTask::MoveOut
            }
            MoveEntry::HouseholdChange { new_head, relationships, .. } => {
                form.new_head = Some(*new_head);
                form.relationships = relationships.iter().map(|c| (c.person, c.relationship.clone())).collect();
                FormTask::HouseholdChange
            }
            MoveEntry::MoveIn { persons, address: to, moved_on, previous_address, .. } => {
                address(&mut form, to);
                form.moved_on = moved_on.to_string();
                form.came_from = previous_address.clone();
                form.newcomers = persons
                    .iter()
                    .map(|p| {
                        let mut newcomer = NewcomerForm {
                            family: p.name.family.clone(),
                            given: p.name.given.clone(),
                            family_kana: p.name.family_kana.clone().unwrap_or_default(),
                            given_kana: p.name.given_kana.clone().unwrap_or_default(),
                            birth_date: p.birth_date.to_string(),
                            female: p.sex == Sex::Female,
                            relationship: p.relationship.clone(),
                            alphabet: p.name.alphabet.clone().unwrap_or_default(),
                            common_name: p.name.common_name.clone().unwrap_or_default(),
                            ..NewcomerForm::default()
                        };
                        match &p.registry {
                            Registry::Japanese { honseki, head_of_family_register } => {
                                newcomer.honseki = honseki.clone();
                                newcomer.register_head = head_of_family_register.clone();
                            }
                            Registry::Foreign {
                                nationality,
                                residence_status,
                                residence_expires_on,
                                residence_card_number,
                            } => {
                                newcomer.foreign = true;
                                newcomer.nationality = nationality.clone();
                                newcomer.residence_status = residence_status.clone();
                                newcomer.residence_expires_on = residence_expires_on.to_string();
                                newcomer.residence_card_number = residence_card_number.clone();
                            }
                        }
                        newcomer
                    })
                    .collect();
                FormTask::MoveIn
            }
        };
        (task, form)
    }
}

/// A date field's value, or its reason beside the field.
fn date_of(text: &str, field: &str, what: &str, errors: &mut Vec<FieldError>) -> Option<Date> {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, format!("{what} is missing"), format!("{what}を入力してください")));
        return None;
    }
    match parse_date(text) {
        Ok(date) => Some(date),
        Err(err) => {
            errors.push(FieldError::new(field, err.to_string(), format!("{what}：{}", err.message_ja())));
            None
        }
    }
}

impl TerminalApp {
    /// The new address in the ward from the form: the postal code names the 町域 (and the ward), the operator types
    /// the 番地 and 方書.
    fn ward_address(&self, errors: &mut Vec<FieldError>) -> Option<Address> {
        let form = &self.form.moves;
        let digits = super::operator::postal_digits(&form.postal_code);
        let area = digits
            .as_deref()
            .and_then(|code| backend_adapter::postal::lookup(&self.postal_areas, code).first().copied());
        let Some(area) = area else {
            errors.push(FieldError::new(
                "move.postal",
                "the postal code is not one of the ward's",
                "区内の郵便番号（7桁）を入力してください",
            ));
            return None;
        };
        Some(Address {
            postal_code: area.postal_code.clone(),
            prefecture: area.prefecture.clone(),
            city: area.city.clone(),
            town: form.town.trim().to_string(),
            block: form.block.trim().to_string(),
            building: Some(form.building.trim().to_string()).filter(|b| !b.is_empty()),
        })
    }

    /// The 異動 the form describes for the chosen person (none for a 転入 into a new household), or why not yet.
    pub(super) fn move_task(
        &self,
        person: Option<&PersonSummary>,
        today: Date,
    ) -> Result<TaskRequest, Vec<FieldError>> {
        let form = &self.form.moves;
        let mut errors = Vec::new();
        let what = match self.form.task {
            FormTask::MoveOut => "転出予定年月日",
            FormTask::MoveIn => "転入年月日",
            FormTask::HouseholdChange => "変更年月日",
            _ => "転居年月日",
        };
        let moved_on = if self.form.task == FormTask::HouseholdChange && form.moved_on.trim().is_empty() {
            Some(today)
        } else {
            date_of(&form.moved_on, "move.moved_on", what, &mut errors)
        };
        let entry = match self.form.task {
            FormTask::MoveWithin => {
                let address = self.ward_address(&mut errors);
                moved_on.zip(address).map(|(moved_on, new_address)| MoveEntry::MoveWithin {
                    persons: form.moving.clone(),
                    new_address,
                    moved_on,
                    notified_on: today,
                })
            }
            FormTask::MoveOut => moved_on.map(|planned_on| MoveEntry::MoveOut {
                persons: form.moving.clone(),
                destination: form.destination.trim().to_string(),
                planned_on,
                notified_on: today,
            }),
            FormTask::HouseholdChange => {
                let household = person.map(|p| p.household_id);
                match (household, form.new_head) {
                    (Some(household), Some(new_head)) => moved_on.map(|changed_on| MoveEntry::HouseholdChange {
                        household,
                        new_head,
                        relationships: form
                            .relationships
                            .iter()
                            .map(|(person, relationship)| RelationshipChange {
                                person: *person,
                                relationship: relationship.trim().to_string(),
                            })
                            .collect(),
                        changed_on,
                    }),
                    _ => {
                        errors.push(FieldError::new(
                            "move.relationships",
                            "choose the new head",
                            "新しい世帯主を選んでください",
                        ));
                        None
                    }
                }
            }
            FormTask::MoveIn => {
                let address = self.ward_address(&mut errors);
                let mut persons = Vec::new();
                for (index, newcomer) in form.newcomers.iter().enumerate() {
                    let label = format!("{}人目の生年月日", index + 1);
                    let Some(birth_date) = date_of(&newcomer.birth_date, "move.persons", &label, &mut errors) else {
                        continue;
                    };
                    let registry = if newcomer.foreign {
                        let label = format!("{}人目の在留期間満了日", index + 1);
                        let Some(expires_on) =
                            date_of(&newcomer.residence_expires_on, "move.persons", &label, &mut errors)
                        else {
                            continue;
                        };
                        Registry::Foreign {
                            nationality: newcomer.nationality.trim().to_string(),
                            residence_status: newcomer.residence_status.trim().to_string(),
                            residence_expires_on: expires_on,
                            residence_card_number: newcomer.residence_card_number.trim().to_uppercase(),
                        }
                    } else {
                        Registry::Japanese {
                            honseki: newcomer.honseki.trim().to_string(),
                            head_of_family_register: newcomer.register_head.trim().to_string(),
                        }
                    };
                    let kana = |text: &str| Some(text.trim().to_string()).filter(|k| !k.is_empty());
                    persons.push(NewPerson {
                        name: Name {
                            family: newcomer.family.trim().to_string(),
                            given: newcomer.given.trim().to_string(),
                            family_kana: kana(&newcomer.family_kana),
                            given_kana: kana(&newcomer.given_kana),
                            former_family: None,
                            former_family_kana: None,
                            common_name: Some(newcomer.common_name.trim().to_string())
                                .filter(|name| newcomer.foreign && !name.is_empty()),
                            alphabet: Some(newcomer.alphabet.trim().to_string())
                                .filter(|name| newcomer.foreign && !name.is_empty()),
                        },
                        birth_date,
                        sex: if newcomer.female { Sex::Female } else { Sex::Male },
                        relationship: newcomer.relationship.trim().to_string(),
                        resident_code: None,
                        individual_number: None,
                        registry,
                    });
                }
                let household = match person {
                    Some(person) => HouseholdTarget::Existing(person.household_id),
                    None => HouseholdTarget::New,
                };
                moved_on.zip(address).map(|(moved_on, address)| MoveEntry::MoveIn {
                    persons,
                    address,
                    household,
                    moved_on,
                    notified_on: today,
                    previous_address: form.came_from.trim().to_string(),
                })
            }
            _ => None,
        };
        let card_move_in = self.form.task == FormTask::MoveIn && form.special_card;
        // Left empty, core names the missing date beside the field.
        let card_move_out_planned_on = (card_move_in && !form.card_planned_on.trim().is_empty())
            .then(|| date_of(&form.card_planned_on, "move.card_planned_on", "転出予定年月日", &mut errors))
            .flatten();
        match entry {
            Some(entry) if errors.is_empty() => {
                let special_card_procedure =
                    matches!(self.form.task, FormTask::MoveOut | FormTask::MoveIn) && form.special_card;
                Ok(TaskRequest::Move { entry, special_card_procedure, card_move_out_planned_on })
            }
            _ => Err(errors),
        }
    }

    /// The household's members for this form, once loaded.
    fn members_for(&self, person: Option<&PersonSummary>) -> Option<&LoadedHousehold> {
        let person = person?;
        self.household.as_ref().filter(|h| h.id == person.household_id)
    }

    /// Draw the 異動 part of the form. `error` gives each field's reason from the last check.
    pub(super) fn move_form_ui(
        &mut self,
        ui: &mut egui::Ui,
        person: Option<&PersonSummary>,
        request: Option<&CounterRequest>,
        error: &dyn Fn(&str) -> Option<String>,
    ) {
        let task = self.form.task;
        let today = self.today;
        if let Some(today) = today {
            ui.label(format!("届出日：{}", date_label(today)));
        }
        let members = self.members_for(person).cloned();
        if matches!(task, FormTask::MoveWithin | FormTask::MoveOut | FormTask::HouseholdChange) {
            match &members {
                None => {
                    ui.label("世帯員を読み込んでいます…");
                }
                Some(household) if task == FormTask::HouseholdChange => {
                    ui.label("新しい世帯主を選び、各世帯員の続柄を入力します");
                    for member in &household.members {
                        ui.horizontal(|ui| {
                            let head = ui.radio_value(
                                &mut self.form.moves.new_head,
                                Some(member.id),
                                format!("世帯主にする：{}", member.name),
                            );
                            let slot = self.form.moves.relationships.iter().position(|(id, _)| *id == member.id);
                            let Some(slot) = slot else { return };
                            let mut text = std::mem::take(&mut self.form.moves.relationships[slot].1);
                            if head.changed() {
                                // The new head's 続柄 becomes 世帯主; the operator then changes the former head's.
                                text = "世帯主".to_string();
                            }
                            self.checked_field(ui, &format!("{}の続柄", member.name), &mut text, false, None);
                            self.form.moves.relationships[slot].1 = text;
                        });
                    }
                    field_message(ui, error("move.relationships").as_deref());
                }
                Some(household) => {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(if task == FormTask::MoveOut { "転出する人" } else { "転居する人" });
                        for member in &household.members {
                            let mut ticked = self.form.moves.moving.contains(&member.id);
                            let label = format!("{}（{}）", member.name, member.relationship);
                            if ui.checkbox(&mut ticked, label).changed() {
                                if ticked {
                                    self.form.moves.moving.push(member.id);
                                } else {
                                    self.form.moves.moving.retain(|id| *id != member.id);
                                }
                            }
                        }
                        field_message(ui, error("move.persons").as_deref());
                    });
                }
            }
        }
        if task == FormTask::MoveIn {
            self.newcomers_ui(ui, person.is_none(), error);
        }
        let date_label_text = match task {
            FormTask::MoveOut => "転出予定年月日",
            FormTask::MoveIn => "転入年月日",
            FormTask::HouseholdChange => "変更年月日（空欄は届出日）",
            _ => "転居年月日",
        };
        let mut moved_on = std::mem::take(&mut self.form.moves.moved_on);
        self.checked_field(ui, date_label_text, &mut moved_on, false, error("move.moved_on").as_deref());
        self.form.moves.moved_on = moved_on;
        if matches!(task, FormTask::MoveWithin | FormTask::MoveIn) {
            self.new_address_ui(ui, error);
        }
        if task == FormTask::MoveIn {
            let mut came_from = std::mem::take(&mut self.form.moves.came_from);
            self.checked_field(ui, "転入前の住所", &mut came_from, false, error("move.previous_address").as_deref());
            self.form.moves.came_from = came_from;
        }
        if task == FormTask::MoveOut {
            let mut destination = std::mem::take(&mut self.form.moves.destination);
            self.checked_field(ui, "転出先", &mut destination, false, error("move.destination").as_deref());
            self.form.moves.destination = destination;
        }
        if matches!(task, FormTask::MoveOut | FormTask::MoveIn) {
            ui.horizontal(|ui| {
                let label = if task == FormTask::MoveOut {
                    "特例転出（マイナンバーカード・転出証明書なし）"
                } else {
                    "特例転入（マイナンバーカードと暗証番号）"
                };
                ui.checkbox(&mut self.form.moves.special_card, label);
                field_message(ui, error("move.special").as_deref());
            });
            if task == FormTask::MoveIn && self.form.moves.special_card {
                let mut planned = std::mem::take(&mut self.form.moves.card_planned_on);
                let label = "転出予定年月日（転出証明書情報）";
                self.checked_field(ui, label, &mut planned, false, error("move.card_planned_on").as_deref());
                self.form.moves.card_planned_on = planned;
            }
            if task == FormTask::MoveOut && !self.form.moves.special_card {
                ui.label("承認後、住民記録に反映されたら案件一覧の「転出証明書を作成して回付」から交付します");
            }
        }
        field_message(ui, error("move.notified_on").as_deref());
        if let Some(TaskRequest::Move { entry, .. }) = request.map(|r| &r.task)
            && let Some(days) = late_notice_days(entry)
        {
            ui.label(
                RichText::new(format!(
                    "届出期間（{}日）を{days}日過ぎています。期間経過の届出として審査へ回付します",
                    madoguchi_core::request::MOVE_NOTICE_DAYS
                ))
                .color(super::ERROR_COLOR),
            );
        }
    }

    /// 郵便番号 → 町域 (filled when the code names one), then 番地・号 and 方書.
    fn new_address_ui(&mut self, ui: &mut egui::Ui, error: &dyn Fn(&str) -> Option<String>) {
        let mut postal = std::mem::take(&mut self.form.moves.postal_code);
        self.checked_field(ui, "新しい住所の郵便番号", &mut postal, false, error("move.postal").as_deref());
        if let Some(code) = super::operator::postal_digits(&postal) {
            let towns: Vec<String> = backend_adapter::postal::lookup(&self.postal_areas, &code)
                .into_iter()
                .map(|area| area.town.clone())
                .filter(|town| !town.is_empty())
                .collect();
            if let [town] = towns.as_slice()
                && self.form.moves.town.is_empty()
            {
                self.form.moves.town = town.clone();
            }
        }
        self.form.moves.postal_code = postal;
        let mut town = std::mem::take(&mut self.form.moves.town);
        self.checked_field(ui, "町域・丁目", &mut town, false, error("move.address").as_deref());
        self.form.moves.town = town;
        let mut block = std::mem::take(&mut self.form.moves.block);
        self.checked_field(ui, "番地・号", &mut block, false, None);
        self.form.moves.block = block;
        let mut building = std::mem::take(&mut self.form.moves.building);
        self.checked_field(ui, "方書（建物名・部屋番号）", &mut building, false, None);
        self.form.moves.building = building;
    }

    /// The persons moving in, one block each; a new household's first person is its 世帯主.
    fn newcomers_ui(&mut self, ui: &mut egui::Ui, new_household: bool, error: &dyn Fn(&str) -> Option<String>) {
        if self.form.moves.newcomers.is_empty() {
            self.form.moves.newcomers.push(NewcomerForm {
                relationship: if new_household { "世帯主".into() } else { String::new() },
                ..NewcomerForm::default()
            });
        }
        let mut newcomers = std::mem::take(&mut self.form.moves.newcomers);
        for (index, newcomer) in newcomers.iter_mut().enumerate() {
            let who = index + 1;
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("転入する人（{who}人目）")).strong());
                ui.checkbox(&mut newcomer.foreign, format!("{who}人目：外国人住民"));
            });
            let mut fields = vec![
                ("氏", &mut newcomer.family),
                ("名", &mut newcomer.given),
                ("氏のフリガナ", &mut newcomer.family_kana),
                ("名のフリガナ", &mut newcomer.given_kana),
                ("生年月日", &mut newcomer.birth_date),
                ("続柄", &mut newcomer.relationship),
            ];
            if newcomer.foreign {
                fields.extend([
                    ("氏名（アルファベット）", &mut newcomer.alphabet),
                    ("国籍・地域", &mut newcomer.nationality),
                    ("在留資格", &mut newcomer.residence_status),
                    ("在留期間満了日", &mut newcomer.residence_expires_on),
                    ("在留カード番号", &mut newcomer.residence_card_number),
                    ("通称（任意）", &mut newcomer.common_name),
                ]);
            } else {
                fields.extend([("本籍", &mut newcomer.honseki), ("筆頭者", &mut newcomer.register_head)]);
            }
            for (label, value) in fields {
                let before = value.clone();
                let field = self.checked_field(ui, &format!("{who}人目の{label}"), value, false, None);
                if self.focus_form && index == 0 && label == "氏" {
                    field.request_focus();
                    self.focus_form = false;
                }
                // フリガナ typed in hiragana (or half width) becomes 全角カタカナ as it is typed.
                if label.ends_with("フリガナ") && *value != before && !self.ime.composing {
                    *value = madoguchi_core::kana::to_katakana_input(value);
                }
            }
            ui.horizontal(|ui| {
                ui.label("男女の別");
                ui.radio_value(&mut newcomer.female, false, format!("{who}人目：男"));
                ui.radio_value(&mut newcomer.female, true, format!("{who}人目：女"));
            });
        }
        field_message(ui, error("move.persons").as_deref());
        ui.horizontal(|ui| {
            if ui.button("転入する人を追加").clicked() {
                newcomers.push(NewcomerForm::default());
            }
            if newcomers.len() > 1 && ui.button("最後の人を削除").clicked() {
                newcomers.pop();
            }
        });
        self.form.moves.newcomers = newcomers;
    }
}
