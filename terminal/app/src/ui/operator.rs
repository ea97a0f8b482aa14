//! The operator's home: resident search (name, birth date in 和暦 or 西暦, postal code → address, address, or the
//! マイナンバーカード by F3), the request form validated as it is typed — every requester category with what it needs,
//! 住民票の写し of the household or of the person, 記載事項証明書 with its items, 印鑑登録証明書 of the 印鑑登録証
//! read by F5, 印鑑登録 by 照会書, and the 異動 forms (`moves`) — hand-over to review, and the post's own cases: the
//! 照会書 recorded as mailed and the 回答書 accepted, a returned case corrected, a paper 転出's 転出証明書 opened.
//! A form with errors cannot be handed over; each error is shown beside its field.

use std::collections::HashMap;

use backend_adapter::types::{MoveEntry, PersonSummary, SearchQuery};
use egui::{Key, RichText};
use madoguchi_core::case::{CaseState, ReturnReason};
use madoguchi_core::error::FieldError;
use madoguchi_core::inquiry::InquiryState;
use madoguchi_core::request::{
    CertificateKind, CertificateRequest, CounterRequest, IdentityCheck, IdentityDocument, LicensedProfession,
    OptionalItems, Requester, RequesterCategory, SealRegistrationPath, TaskRequest,
};

use super::backend::Command;
use super::{Notice, SearchForm, TerminalApp, field_message};

/// The 八士業 in the order of the 職務上請求書's list.
const PROFESSIONS: [LicensedProfession; 8] = [
    LicensedProfession::Attorney,
    LicensedProfession::JudicialScrivener,
    LicensedProfession::LandSurveyor,
    LicensedProfession::TaxAccountant,
    LicensedProfession::LabourConsultant,
    LicensedProfession::PatentAttorney,
    LicensedProfession::MaritimeProcedureAgent,
    LicensedProfession::AdministrativeScrivener,
];

/// What the operator takes for the chosen person (業務), in the order of the counter's paper forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum FormTask {
    /// 住民票の写し of the whole household (世帯連記式).
    #[default]
    HouseholdCopy,
    /// 住民票の写し of the chosen person only (個人票).
    PersonCopy,
    /// 住民票記載事項証明書 of the chosen person, with the items asked for.
    ItemsCertificate,
    /// 印鑑登録 by 照会書・回答書 (the only path for a 代理人).
    SealByInquiry,
    /// 印鑑登録証明書 of the registration on the 印鑑登録証 presented.
    SealCertificate,
    /// 転居 within the ward.
    MoveWithin,
    /// 転出, with a paper 転出証明書 or by 特例転出.
    MoveOut,
    /// 世帯変更 (世帯主・続柄).
    HouseholdChange,
    /// 転入: into the chosen person's household, or into a new household when nobody is chosen.
    MoveIn,
}

impl FormTask {
    /// Certificates and 印鑑登録, then the 異動 of the chosen person's household.
    const ROWS: [&[FormTask]; 2] = [
        &[
            FormTask::HouseholdCopy,
            FormTask::PersonCopy,
            FormTask::ItemsCertificate,
            FormTask::SealCertificate,
            FormTask::SealByInquiry,
        ],
        &[FormTask::MoveWithin, FormTask::MoveOut, FormTask::HouseholdChange, FormTask::MoveIn],
    ];

    fn label_ja(self) -> &'static str {
        match self {
            FormTask::HouseholdCopy => "住民票の写し（世帯）",
            FormTask::PersonCopy => "住民票の写し（個人）",
            FormTask::ItemsCertificate => "記載事項証明書",
            FormTask::SealByInquiry => "印鑑登録（照会書）",
            FormTask::SealCertificate => "印鑑登録証明書",
            FormTask::MoveWithin => "転居",
            FormTask::MoveOut => "転出",
            FormTask::HouseholdChange => "世帯変更",
            FormTask::MoveIn => "転入（この世帯へ）",
        }
    }

    fn certificate_kind(self) -> Option<CertificateKind> {
        match self {
            FormTask::HouseholdCopy => Some(CertificateKind::ResidentRecordHousehold),
            FormTask::PersonCopy => Some(CertificateKind::ResidentRecordIndividual),
            FormTask::ItemsCertificate => Some(CertificateKind::ResidentRecordItems),
            _ => None,
        }
    }

    /// A 住民異動.
    pub(super) fn is_move(self) -> bool {
        matches!(self, FormTask::MoveWithin | FormTask::MoveOut | FormTask::HouseholdChange | FormTask::MoveIn)
    }
}

/// The form filled from a request (a returned case being corrected).
pub(super) fn form_of(request: &CounterRequest) -> super::RequestForm {
    let documents = &request.requester.identity.documents;
    let own = request.requester.category == RequesterCategory::Self_;
    let mut form = super::RequestForm {
        category: request.requester.category,
        requester_name: if own { String::new() } else { request.requester.name.clone() },
        requester_address: if own { String::new() } else { request.requester.address.clone() },
        drivers_licence: documents.contains(&IdentityDocument::DriversLicence),
        my_number_card: documents.contains(&IdentityDocument::MyNumberCard),
        passport: documents.contains(&IdentityDocument::Passport),
        residence_card: documents.contains(&IdentityDocument::ResidenceCard),
        insurance: documents.contains(&IdentityDocument::InsuranceCertificate),
        pension: documents.contains(&IdentityDocument::PensionCertificate),
        professional_form: documents.contains(&IdentityDocument::ProfessionalForm),
        official_form: documents.contains(&IdentityDocument::OfficialRequestForm),
        letter_of_attorney: request.requester.identity.letter_of_attorney,
        corporate_number: request.requester.corporate_number.clone().unwrap_or_default(),
        profession: match request.requester.category {
            RequesterCategory::LicensedProfessional(profession) => profession,
            _ => LicensedProfession::AdministrativeScrivener,
        },
        purpose: request.requester.purpose.clone(),
        fee_exempt: request.fee_exemption.is_some(),
        exemption_reason: request.fee_exemption.clone().unwrap_or_default(),
        ..super::RequestForm::default()
    };
    match &request.task {
        TaskRequest::Certificate(certificate) => {
            form.task = match certificate.kind {
                CertificateKind::ResidentRecordIndividual => FormTask::PersonCopy,
                CertificateKind::ResidentRecordItems => FormTask::ItemsCertificate,
                _ => FormTask::HouseholdCopy,
            };
            form.head_and_relationship = certificate.items.head_and_relationship;
            form.registry = certificate.items.registry;
            form.furigana = certificate.items.furigana;
            form.former_family_name = certificate.items.former_family_name;
            form.previous_address = certificate.items.previous_address;
            form.copies = certificate.copies.to_string();
        }
        TaskRequest::Seal { registration_number: Some(number), .. } => {
            form.task = FormTask::SealCertificate;
            form.registration_number = number.clone();
        }
        TaskRequest::Seal { .. } => form.task = FormTask::SealByInquiry,
        TaskRequest::Move { entry, special_card_procedure, card_move_out_planned_on } => {
            (form.task, form.moves) =
                super::moves::MoveForm::of_entry(entry, *special_card_procedure, *card_move_out_planned_on);
        }
    }
    form
}

/// The search criteria, checked: the query to send, or the message for each field that is wrong.
#[derive(Debug, Default)]
struct CheckedSearch {
    query: Option<SearchQuery>,
    birth_date: Option<String>,
    postal_code: Option<String>,
    /// The 町域 the postal code names (several for a few codes).
    postal_towns: Vec<String>,
}

/// A full-width digit as typed through the IME (０–９) as its ASCII digit; any other character as it is.
pub(super) fn half_width_digit(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        other => other,
    }
}

/// A 郵便番号 as typed: digits (half or full width) with an optional hyphen.
pub(super) fn postal_digits(text: &str) -> Option<String> {
    let digits: String =
        text.trim().chars().filter(|c| !matches!(c, '-' | '－' | 'ー' | '‐')).map(half_width_digit).collect();
    (digits.len() == 7 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

impl SearchForm {
    fn check(&self, areas: &[backend_adapter::postal::PostalArea]) -> CheckedSearch {
        let mut checked = CheckedSearch::default();
        let mut query = SearchQuery { limit: 20, ..SearchQuery::default() };
        if !self.name.trim().is_empty() {
            query.name_prefix = Some(self.name.trim().to_string());
        }
        if !self.birth_date.trim().is_empty() {
            match madoguchi_core::wareki::parse_date(&self.birth_date) {
                Ok(date) => query.birth_date = Some(date),
                Err(err) => checked.birth_date = Some(err.message_ja()),
            }
        }
        if !self.postal_code.trim().is_empty() {
            match postal_digits(&self.postal_code) {
                None => checked.postal_code = Some("郵便番号は7桁の数字で入力してください（例 160-0023）".into()),
                Some(code) => {
                    checked.postal_towns = backend_adapter::postal::lookup(areas, &code)
                        .into_iter()
                        .map(|area| area.town.clone())
                        .filter(|town| !town.is_empty())
                        .collect();
                    if checked.postal_towns.is_empty() {
                        checked.postal_code = Some("この郵便番号は区内にありません".into());
                    }
                }
            }
        }
        if !self.address.trim().is_empty() {
            query.address_prefix = Some(self.address.trim().to_string());
        }
        let any = query.name_prefix.is_some() || query.birth_date.is_some() || query.address_prefix.is_some();
        if any && checked.birth_date.is_none() && checked.postal_code.is_none() {
            checked.query = Some(query);
        }
        checked
    }
}

impl TerminalApp {
    pub(super) fn operator_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            ui.heading("窓口受付（異動・証明書・印鑑登録）");
            self.search_ui(ui);
            // A 転入 into a new household has nobody to search for. (The button stays while its form is open, so
            // the form's widgets keep their ids from the first frame: the focus lands where it was asked.)
            if self.selected.is_none()
                && (ui.add_enabled(!self.new_arrival, egui::Button::new("転入届（新しい世帯）（F4）")).clicked()
                    || (!self.new_arrival && ui.input(|i| i.key_pressed(Key::F4))))
            {
                self.new_arrival = true;
                self.form.task = FormTask::MoveIn;
                self.form.moves = super::moves::MoveForm::default();
                self.focus_form = true;
            }
            if let Some((case_id, reason)) = self.revising.clone() {
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(format!("案件{case_id}を修正中（差戻し理由：{reason}）"))
                            .color(super::ERROR_COLOR)
                            .strong(),
                    );
                    if ui.button("修正をやめる").clicked() {
                        self.revising = None;
                        self.form = super::RequestForm::default();
                    }
                });
            }
            if let Some(person) = self.selected.clone() {
                ui.separator();
                self.request_form_ui(ui, Some(&person));
            } else if self.new_arrival {
                ui.separator();
                ui.horizontal(|ui| {
                    ui.label(RichText::new("転入届（新しい世帯）").strong());
                    if ui.button("転入届をやめる").clicked() {
                        self.new_arrival = false;
                        self.form = super::RequestForm::default();
                    }
                });
                if self.new_arrival {
                    self.request_form_ui(ui, None);
                }
            }
            ui.separator();
            ui.label(RichText::new("この窓口の案件").strong());
            let mut reprepare = None;
            let mut case_command = None;
            for case in &self.cases {
                let inquiry = self.inquiries.iter().find(|i| i.case_id == case.id);
                let reason = case
                    .return_reason
                    .as_deref()
                    .and_then(ReturnReason::parse)
                    .map(|r| format!("（{}）", r.label_ja()));
                ui.horizontal(|ui| {
                    ui.label(format!(
                        "案件{}　{}　{}{}",
                        case.id,
                        super::kind_label(&case.kind),
                        case.state.label_ja(),
                        reason.unwrap_or_default()
                    ));
                    // A draft here was spoiled at the printer (or its preparation failed): it is made again under a
                    // new 発行番号 and goes back to review.
                    if case.state == CaseState::Draft
                        && ui.button(format!("作成し直して回付（案件{}）", case.id)).clicked()
                    {
                        reprepare = Some(case.id);
                    }
                    // A returned case is corrected here and handed over again (a new 発行番号, a new approval).
                    if case.state == CaseState::Returned
                        && ui.button(format!("修正して再回付（案件{}）", case.id)).clicked()
                    {
                        case_command = Some(Command::OpenForRevision(case.id));
                    }
                    // A paper 転出 ends in its 転出証明書, prepared from the resident system's record once the entry is
                    // committed there (core says so until then), and reviewed like any certificate.
                    let certified = |c: &&madoguchi_core::store::CaseSummary| {
                        c.move_case == Some(case.id) && c.state != CaseState::Voided
                    };
                    if case.kind == "move-out"
                        && case.state == CaseState::Approved
                        && !self.cases.iter().any(|c| certified(&c))
                        && ui.button(format!("転出証明書を作成して回付（案件{}）", case.id)).clicked()
                    {
                        case_command = Some(Command::MoveOutCertificate(case.id));
                    }
                    // A 印鑑登録 by 照会書: its approved letter is printed at the review station; the post records
                    // it mailed, then accepts the 回答書 brought back by the deadline.
                    if case.kind == "seal-registration" && case.state == CaseState::Approved {
                        match inquiry {
                            None => {
                                if ui.button(format!("照会書の発送を記録（案件{}）", case.id)).clicked() {
                                    case_command = Some(Command::SendInquiry(case.id));
                                }
                            }
                            Some(inquiry) => {
                                ui.label(format!(
                                    "照会：{}（回答期限 {}）",
                                    inquiry.state.label_ja(),
                                    madoguchi_core::wareki::date_label(inquiry.deadline)
                                ));
                                if inquiry.state == InquiryState::Pending
                                    && ui.button(format!("回答書を受理（案件{}）", case.id)).clicked()
                                {
                                    case_command = Some(Command::AcceptAnswer(case.id));
                                }
                            }
                        }
                    }
                });
            }
            if let Some(case_id) = reprepare {
                self.backend.send(Command::Reprepare(case_id));
            }
            if let Some(command) = case_command {
                self.backend.send(command);
            }
        });
    }

    fn search_ui(&mut self, ui: &mut egui::Ui) {
        let checked = self.search.check(&self.postal_areas);
        // A postal code that names one 町域 fills the address, unless the operator typed one.
        if let [town] = checked.postal_towns.as_slice()
            && (self.search.address.is_empty()
                || self.search.address_from_postal.as_deref() == Some(&self.search.address))
            && self.search.address != *town
        {
            self.search.address = town.clone();
            self.search.address_from_postal = Some(town.clone());
        }
        let mut form = std::mem::take(&mut self.search);
        let name = self.checked_field(ui, "氏名（カナ・漢字）", &mut form.name, false, None);
        self.checked_field(ui, "生年月日（和暦・西暦）", &mut form.birth_date, false, checked.birth_date.as_deref());
        self.checked_field(ui, "郵便番号", &mut form.postal_code, false, checked.postal_code.as_deref());
        if checked.postal_towns.len() > 1 {
            ui.horizontal(|ui| {
                ui.label("町域を選択");
                for town in &checked.postal_towns {
                    if ui.button(town).clicked() {
                        form.address = town.clone();
                        form.address_from_postal = Some(town.clone());
                    }
                }
            });
        }
        self.checked_field(ui, "住所（町域から）", &mut form.address, false, None);
        self.search = form;
        // The resident types the card's 4-digit PIN; F3 reads the card and fills the search from its 券面事項.
        let complete = |pin: &str| pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit());
        let mut pin = std::mem::take(&mut self.card_pin);
        let pin_error = (!pin.is_empty() && !complete(&pin)).then_some("暗証番号は4桁の数字です");
        self.checked_field(ui, "カードの暗証番号（4桁）", &mut pin, true, pin_error);
        self.card_pin = pin;
        let read_card = ui.button("マイナンバーカード読取（F3）").clicked() || ui.input(|i| i.key_pressed(Key::F3));
        if read_card {
            if complete(&self.card_pin) {
                let pin = std::mem::take(&mut self.card_pin);
                self.backend.send(Command::ReadCard(super::backend::CardPin(pin)));
            } else {
                self.notice = Some(Notice {
                    error: true,
                    text: "カードの暗証番号（4桁）を本人に入力してもらってください".into(),
                });
            }
        }
        if self.focus_pending {
            name.request_focus();
            self.focus_pending = false;
        }
        let search_pressed = ui.button("検索（F2）").clicked() || ui.input(|i| i.key_pressed(Key::F2));
        if search_pressed {
            match checked.query {
                Some(query) => self.backend.send(Command::Search(query)),
                None if checked.birth_date.is_none() && checked.postal_code.is_none() => {
                    self.notice = Some(Notice {
                        error: true,
                        text: "氏名・生年月日・郵便番号・住所のいずれかを入力してください".into(),
                    });
                }
                None => {
                    self.notice = Some(Notice {
                        error: true,
                        text: "検索条件の誤りを直してください（項目の横に理由）".into(),
                    })
                }
            }
        }
        let mut chosen = None;
        // The hits scroll in their own box so the request form below stays in view.
        egui::ScrollArea::vertical().id_salt("hits").max_height(190.0).auto_shrink([false, true]).show(ui, |ui| {
            for hit in &self.results {
                let text = format!("{}　{}　{}", hit.name.display(), hit.birth_date, hit.address.display());
                if ui.selectable_label(self.selected.as_ref().is_some_and(|s| s.id == hit.id), text).clicked() {
                    chosen = Some(hit.clone());
                }
            }
        });
        if let Some(person) = &chosen {
            self.new_arrival = false;
            // Who moves belongs to one household: another household starts the 異動 part afresh.
            if self.selected.as_ref().is_some_and(|s| s.household_id != person.household_id) {
                self.form.moves = super::moves::MoveForm::default();
            }
            self.selected = chosen;
            // Keyboard first: choosing a person moves on to the request form.
            self.focus_form = true;
        }
    }

    fn request_form_ui(&mut self, ui: &mut egui::Ui, person: Option<&PersonSummary>) {
        // A 異動 of the chosen person's household lists its members: load them once for this household.
        if let Some(person) = person
            && self.form.task.is_move()
            && self.form.task != FormTask::MoveIn
            && self.household.as_ref().is_none_or(|h| h.id != person.household_id)
            && self.household_requested != Some(person.household_id)
        {
            self.household_requested = Some(person.household_id);
            self.backend.send(Command::LoadHousehold(person.household_id));
        }
        // A fresh form (a new task, a hand-over, another person) starts from the loaded members.
        if let Some(person) = person
            && self.form.moves.relationships.is_empty()
            && let Some(household) = self.household.as_ref().filter(|h| h.id == person.household_id)
        {
            self.form.moves.start_on(household, Some(person.id));
        }
        let built = self.build_request(person);
        let errors: HashMap<String, String> = match &built {
            Ok(_) => HashMap::new(),
            Err(errors) => {
                let mut by_field: HashMap<String, String> = HashMap::new();
                for error in errors {
                    by_field
                        .entry(error.field.clone())
                        .and_modify(|m| {
                            m.push('／');
                            m.push_str(&error.message_ja);
                        })
                        .or_insert_with(|| error.message_ja.clone());
                }
                by_field
            }
        };
        let error = |field: &str| errors.get(field).map(String::as_str);
        if let Some(person) = person {
            ui.label(format!("対象：{}（世帯 {}）", person.name.display(), person.household_id));
            for (row, tasks) in FormTask::ROWS.into_iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.label(if row == 0 { "業務" } else { "異動" });
                    for &task in tasks {
                        let radio = ui.radio_value(&mut self.form.task, task, task.label_ja());
                        if self.focus_form && task == self.form.task {
                            radio.request_focus();
                            self.focus_form = false;
                        }
                    }
                });
            }
        }
        let certificate = self.form.task.certificate_kind().is_some();
        ui.horizontal_wrapped(|ui| {
            ui.label("請求者");
            for (category, label) in [
                (RequesterCategory::Self_, "本人"),
                (RequesterCategory::SameHousehold, "同一世帯"),
                (RequesterCategory::LegalRepresentative, "法定代理人"),
                (RequesterCategory::Proxy, "任意代理人"),
                (RequesterCategory::ThirdPartyIndividual, "第三者"),
                (RequesterCategory::ThirdPartyCorporation, "法人"),
                (RequesterCategory::LicensedProfessional(self.form.profession), "八士業"),
                (RequesterCategory::Official, "公用"),
            ] {
                ui.radio_value(&mut self.form.category, category, label);
            }
            field_message(ui, error("requester.category"));
        });
        if let RequesterCategory::LicensedProfessional(_) = self.form.category {
            ui.horizontal(|ui| {
                let label = ui.label("士業の種別");
                egui::ComboBox::from_id_salt("profession")
                    .selected_text(self.form.profession.label_ja())
                    .show_ui(ui, |ui| {
                        for profession in PROFESSIONS {
                            ui.selectable_value(&mut self.form.profession, profession, profession.label_ja());
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            self.form.category = RequesterCategory::LicensedProfessional(self.form.profession);
        }
        if self.form.category == RequesterCategory::ThirdPartyCorporation {
            let mut number = std::mem::take(&mut self.form.corporate_number);
            self.checked_field(ui, "法人番号（13桁）", &mut number, false, error("requester.corporate_number"));
            self.form.corporate_number = number;
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("本人確認書類");
            ui.checkbox(&mut self.form.drivers_licence, "運転免許証");
            ui.checkbox(&mut self.form.my_number_card, "マイナンバーカード");
            ui.checkbox(&mut self.form.passport, "旅券");
            ui.checkbox(&mut self.form.residence_card, "在留カード");
            ui.checkbox(&mut self.form.insurance, "資格確認書");
            ui.checkbox(&mut self.form.pension, "年金証書");
            if let RequesterCategory::LicensedProfessional(_) = self.form.category {
                ui.checkbox(&mut self.form.professional_form, "職務上請求書");
            }
            if self.form.category == RequesterCategory::Official {
                ui.checkbox(&mut self.form.official_form, "公用請求書");
            }
            if self.form.category == RequesterCategory::Proxy {
                ui.checkbox(&mut self.form.letter_of_attorney, "委任状");
                field_message(ui, error("requester.identity.letter_of_attorney"));
            }
            field_message(ui, error("requester.identity"));
        });
        // Anyone but the resident gives their own name (and, outside the household, their address).
        if self.form.category != RequesterCategory::Self_ {
            let mut name = std::mem::take(&mut self.form.requester_name);
            self.checked_field(ui, "請求者の氏名", &mut name, false, error("requester.name"));
            self.form.requester_name = name;
            if self.form.category != RequesterCategory::SameHousehold {
                let mut address = std::mem::take(&mut self.form.requester_address);
                self.checked_field(ui, "請求者の住所", &mut address, false, error("requester.address"));
                self.form.requester_address = address;
            }
        }
        if !self.form.category.is_person_or_household() {
            let mut purpose = std::mem::take(&mut self.form.purpose);
            self.checked_field(ui, "請求事由", &mut purpose, false, error("requester.purpose"));
            self.form.purpose = purpose;
        }
        if certificate {
            ui.horizontal(|ui| {
                ui.label("記載事項");
                ui.checkbox(&mut self.form.head_and_relationship, "世帯主・続柄");
                ui.checkbox(&mut self.form.registry, "本籍・筆頭者");
                ui.checkbox(&mut self.form.furigana, "振り仮名");
                if self.form.task == FormTask::ItemsCertificate {
                    ui.checkbox(&mut self.form.former_family_name, "旧氏");
                    ui.checkbox(&mut self.form.previous_address, "前住所");
                }
                field_message(ui, error("certificate.items"));
            });
            let mut copies = std::mem::take(&mut self.form.copies);
            self.checked_field(ui, "通数", &mut copies, false, error("certificate.copies"));
            self.form.copies = copies;
            ui.checkbox(&mut self.form.fee_exempt, "手数料免除");
        } else if self.form.task == FormTask::SealCertificate {
            // The 印鑑登録証 names the registration: swiped through the station's reader (F5), or its number typed.
            let mut number = std::mem::take(&mut self.form.registration_number);
            self.checked_field(ui, "登録番号（印鑑登録証）", &mut number, false, error("seal.registration_number"));
            self.form.registration_number = number;
            let read = ui.button("印鑑登録証を読む（F5）").clicked() || ui.input(|i| i.key_pressed(Key::F5));
            if read {
                self.backend.send(Command::ReadSealCard);
            }
            ui.checkbox(&mut self.form.fee_exempt, "手数料免除");
        } else if self.form.task.is_move() {
            let owned_error = |field: &str| error(field).map(str::to_string);
            self.move_form_ui(ui, person, built.as_ref().ok(), &owned_error);
        } else {
            ui.label("照会書兼回答書を登録者の住所へ郵送します。回答書を期限までに持参したときに登録します");
        }
        if (certificate || self.form.task == FormTask::SealCertificate) && self.form.fee_exempt {
            let mut reason = std::mem::take(&mut self.form.exemption_reason);
            self.checked_field(ui, "免除の理由", &mut reason, false, error("fee_exemption"));
            self.form.exemption_reason = reason;
        }
        let handled: Vec<&str> = vec![
            "requester.corporate_number",
            "seal.registration_number",
            "requester.identity.letter_of_attorney",
            "requester.name",
            "requester.address",
            "fee_exemption",
            "requester.category",
            "requester.identity",
            "requester.purpose",
            "certificate.items",
            "certificate.copies",
        ];
        for (field, message) in &errors {
            if !handled.contains(&field.as_str()) && !super::moves::MOVE_FIELDS.contains(&field.as_str()) {
                field_message(ui, Some(message));
            }
        }
        let ready = built.is_ok();
        let revising = self.revising.as_ref().map(|(case_id, _)| *case_id);
        let label = if revising.is_some() { "修正して再回付（F9）" } else { "審査へ回付（F9）" };
        let clicked = ui.add_enabled(ready, egui::Button::new(label)).clicked();
        if clicked || ui.input(|i| i.key_pressed(Key::F9)) {
            match (built, revising) {
                (Ok(request), Some(case_id)) => {
                    self.backend.send(Command::ReviseRequest { case_id, request: Box::new(request) });
                }
                (Ok(request), None) => self.backend.send(Command::SubmitRequest(Box::new(request))),
                (Err(_), _) => {
                    self.notice = Some(Notice {
                        error: true,
                        text: "入力に誤りがあります。項目の横の理由を確認してください".into(),
                    })
                }
            }
        }
    }

    /// The request the form describes, or every reason it cannot be handed over (the rules core applies).
    fn build_request(&self, person: Option<&PersonSummary>) -> Result<CounterRequest, Vec<FieldError>> {
        let copies: Result<u8, _> = self.form.copies.trim().parse();
        let documents = [
            (self.form.drivers_licence, IdentityDocument::DriversLicence),
            (self.form.my_number_card, IdentityDocument::MyNumberCard),
            (self.form.passport, IdentityDocument::Passport),
            (self.form.residence_card, IdentityDocument::ResidenceCard),
            (self.form.insurance, IdentityDocument::InsuranceCertificate),
            (self.form.pension, IdentityDocument::PensionCertificate),
            (
                matches!(self.form.category, RequesterCategory::LicensedProfessional(_)) && self.form.professional_form,
                IdentityDocument::ProfessionalForm,
            ),
            (
                self.form.category == RequesterCategory::Official && self.form.official_form,
                IdentityDocument::OfficialRequestForm,
            ),
        ]
        .into_iter()
        .filter_map(|(checked, document)| checked.then_some(document))
        .collect();
        let task = match (self.form.task.certificate_kind(), person) {
            _ if self.form.task.is_move() => {
                let today = self.today.ok_or_else(|| {
                    vec![FieldError::new(
                        "move.notified_on",
                        "the counter's date is not known yet",
                        "届出日を確認しています。しばらくお待ちください",
                    )]
                })?;
                self.move_task(person, today)?
            }
            (Some(kind), Some(person)) => TaskRequest::Certificate(CertificateRequest {
                kind,
                household: person.household_id,
                // The household copy lists every member; the person's copy and 記載事項証明書 the chosen one.
                persons: if kind == CertificateKind::ResidentRecordHousehold { Vec::new() } else { vec![person.id] },
                items: OptionalItems {
                    head_and_relationship: self.form.head_and_relationship,
                    registry: self.form.registry,
                    furigana: self.form.furigana,
                    former_family_name: kind == CertificateKind::ResidentRecordItems && self.form.former_family_name,
                    previous_address: kind == CertificateKind::ResidentRecordItems && self.form.previous_address,
                    ..OptionalItems::default()
                },
                copies: copies.as_ref().copied().unwrap_or(1),
                move_case: None,
            }),
            // A certificate's path is the registration's, already made: only the card's number matters.
            (None, Some(person)) if self.form.task == FormTask::SealCertificate => TaskRequest::Seal {
                person: person.id,
                path: SealRegistrationPath::SameDay,
                registration_number: Some(self.form.registration_number.trim().to_string()),
            },
            (None, Some(person)) => {
                TaskRequest::Seal { person: person.id, path: SealRegistrationPath::Inquiry, registration_number: None }
            }
            (_, None) => {
                return Err(vec![FieldError::new(
                    "requester.name",
                    "choose the resident first",
                    "対象の住民を検索して選んでください",
                )]);
            }
        };
        // The resident asking for themselves; a new arrival is the first person moving in, at the new address.
        let (own_name, own_address) = match (person, &task) {
            (Some(person), _) => (person.name.display(), person.address.display()),
            (None, TaskRequest::Move { entry: MoveEntry::MoveIn { persons, address, .. }, .. }) => {
                (persons.first().map(|p| p.name.display()).unwrap_or_default(), address.display())
            }
            (None, _) => (String::new(), String::new()),
        };
        let (name, address) = match self.form.category {
            RequesterCategory::Self_ => (own_name, own_address),
            RequesterCategory::SameHousehold => (self.form.requester_name.trim().to_string(), own_address),
            _ => (self.form.requester_name.trim().to_string(), self.form.requester_address.trim().to_string()),
        };
        let address_missing = address.is_empty();
        let certificate = self.form.task.certificate_kind().is_some();
        let fee_charged = certificate || self.form.task == FormTask::SealCertificate;
        let request = CounterRequest {
            requester: Requester {
                category: self.form.category,
                name,
                address,
                corporate_number: (self.form.category == RequesterCategory::ThirdPartyCorporation)
                    .then(|| self.form.corporate_number.trim().to_string()),
                purpose: self.form.purpose.clone(),
                identity: IdentityCheck {
                    documents,
                    letter_of_attorney: self.form.category == RequesterCategory::Proxy && self.form.letter_of_attorney,
                },
            },
            task,
            fee_exemption: (fee_charged && self.form.fee_exempt).then(|| self.form.exemption_reason.clone()),
        };
        let checked = match self.today {
            Some(today) => request.validate_on(today),
            None => request.validate(),
        };
        let mut errors = checked.err().map(|e| e.0).unwrap_or_default();
        if address_missing {
            errors.push(FieldError::new(
                "requester.address",
                "the requester's address is missing",
                "請求者の住所を入力してください",
            ));
        }
        if copies.is_err() && certificate {
            errors.retain(|e| e.field != "certificate.copies");
            errors.push(FieldError::new(
                "certificate.copies",
                "copies must be a number from 1 to 20",
                "通数は1～20の数字で入力してください",
            ));
        }
        if errors.is_empty() { Ok(request) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_are_read_in_any_width_with_or_without_hyphen() {
        assert_eq!(postal_digits("160-0023").as_deref(), Some("1600023"));
        assert_eq!(postal_digits("１６００－０２３").as_deref(), Some("1600023"));
        assert_eq!(postal_digits("1600023").as_deref(), Some("1600023"));
        assert_eq!(postal_digits("160-002"), None);
        assert_eq!(postal_digits("16O0023"), None);
    }

    #[test]
    fn search_criteria_are_checked_field_by_field() {
        let areas = backend_adapter::postal::shinjuku_areas();
        let form = SearchForm { birth_date: "令和2年2月30日".into(), ..SearchForm::default() };
        let checked = form.check(&areas);
        assert!(checked.query.is_none());
        assert!(checked.birth_date.is_some(), "an impossible date is named beside its field");

        let form = SearchForm { birth_date: "S50.4.1".into(), ..SearchForm::default() };
        let query = form.check(&areas).query.expect("query");
        assert_eq!(query.birth_date, Some(jiff::civil::date(1975, 4, 1)));

        let form = SearchForm { postal_code: "160-0023".into(), ..SearchForm::default() };
        let checked = form.check(&areas);
        assert_eq!(checked.postal_towns, vec!["西新宿".to_string()]);

        let form = SearchForm { postal_code: "100-0001".into(), ..SearchForm::default() };
        assert!(form.check(&areas).postal_code.is_some(), "a code outside the ward is refused");

        assert!(SearchForm::default().check(&areas).query.is_none(), "no criteria, no search");
    }
}
