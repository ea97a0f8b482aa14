//! The reviewer's home: the live queue of every post (submitted cases to judge, approved ones waiting for their
//! print), the request beside the exact preview of the bytes under review, and approve, return with a coded reason,
//! or issue to the station printer. Staff also settle here what the machines could not: a suspect print (checked at
//! the tray: printed, or spoiled and sent back to its post for a new 発行番号) and a void (取消, with its refund).

use egui::{Color32, Key, RichText};
use madoguchi_core::case::{CaseState, ReturnReason};

use super::backend::Command;
use super::{ERROR_COLOR, TerminalApp};

/// A queue row's state as the reviewer reads it: an approved case is waiting for its print.
fn queue_state_label(state: CaseState) -> &'static str {
    match state {
        CaseState::Approved => "承認済・印刷待ち",
        other => other.label_ja(),
    }
}

/// A 発行番号 as typed (第000123号 is typed 123 or 000123).
fn issue_number(typed: &str) -> Result<i64, &'static str> {
    let digits = typed.trim().trim_start_matches('第').trim_end_matches('号');
    match digits.parse::<i64>() {
        Ok(number) if number > 0 && digits.chars().all(|c| c.is_ascii_digit()) => Ok(number),
        _ => Err("発行番号は数字で入力してください"),
    }
}

impl TerminalApp {
    pub(super) fn reviewer_ui(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |columns| {
            self.staff_actions_ui(&mut columns[0]);
            columns[0].heading("審査待ち・印刷待ち（全窓口）");
            let mut open = None;
            // Only the rows in view are laid out, so a long queue costs no more per frame than a short one.
            let row_height =
                columns[0].text_style_height(&egui::TextStyle::Button) + columns[0].spacing().item_spacing.y;
            let reviewing = self.review.as_ref().map(|r| r.case.id);
            // An approved 異動 is on its way through the outbox (the status bar counts it) and an approved 照会書
            // was printed on approval: only approved certificates still wait here for their print.
            let queue: Vec<&madoguchi_core::store::CaseSummary> = self
                .cases
                .iter()
                .filter(|case| {
                    case.state != CaseState::Approved
                        || madoguchi_core::request::CertificateKind::parse(&case.kind).is_some()
                })
                .collect();
            egui::ScrollArea::vertical().id_salt("queue").auto_shrink([false, false]).show_rows(
                &mut columns[0],
                row_height,
                queue.len(),
                |ui, rows| {
                    for case in &queue[rows] {
                        let label = format!(
                            "案件{}　{}　{}　{}",
                            case.id,
                            case.station,
                            super::kind_label(&case.kind),
                            queue_state_label(case.state)
                        );
                        if ui.selectable_label(reviewing == Some(case.id), label).clicked() {
                            open = Some(case.id);
                        }
                    }
                },
            );
            if let Some(case_id) = open {
                self.backend.send(Command::OpenReview(case_id));
            }
            let Some(review) = &self.review else {
                columns[1].label("案件を選んでください");
                return;
            };
            let case_id = review.case.id;
            let ui = &mut columns[1];
            ui.heading(format!("案件{case_id}　{}", review.case.state.label_ja()));
            let requester = &review.case.request.requester;
            ui.label(format!("請求者：{}（{}）", requester.name, requester.category.label_ja()));
            let mut documents: Vec<&str> = requester.identity.documents.iter().map(|d| d.label_ja()).collect();
            if requester.identity.letter_of_attorney {
                documents.push("委任状");
            }
            ui.label(format!("本人確認：{}", documents.join("・")));
            if let Some(number) = &requester.corporate_number {
                ui.label(format!("法人番号：{number}"));
            }
            if !requester.purpose.is_empty() {
                ui.label(format!("請求事由：{}", requester.purpose));
            }
            match &review.case.request.task {
                madoguchi_core::request::TaskRequest::Certificate(certificate) => {
                    if let Some(move_case) = certificate.move_case {
                        ui.label(format!("転出（案件{move_case}）の転出証明書：住民記録の転出先・転出予定日で作成"));
                    }
                }
                madoguchi_core::request::TaskRequest::Move {
                    entry,
                    special_card_procedure,
                    card_move_out_planned_on,
                } => {
                    if *special_card_procedure {
                        ui.label(match card_move_out_planned_on {
                            Some(planned) => format!(
                                "特例転入（マイナンバーカード）：転出証明書情報の転出予定年月日 {}",
                                madoguchi_core::wareki::date_label(*planned)
                            ),
                            None => "特例転出（マイナンバーカード・転出証明書なし）".to_string(),
                        });
                    }
                    if let Some(days) = madoguchi_core::request::late_notice_days(entry) {
                        ui.label(
                            RichText::new(format!(
                                "届出期間を{days}日過ぎた届出です（期間経過の届出として扱ってください）"
                            ))
                            .color(ERROR_COLOR),
                        );
                    }
                }
                madoguchi_core::request::TaskRequest::Seal { .. } => {}
            }
            if let Some(reason) = &review.case.request.fee_exemption {
                ui.label(
                    RichText::new(format!("手数料免除：{reason}（理由を確認してから承認してください）"))
                        .color(ERROR_COLOR),
                );
            }
            ui.label(format!("出力：SHA-256 {}", hex::encode(&review.output.sha256[..8])));
            ui.horizontal(|ui| {
                let approve = ui.button("承認（F9）").clicked() || ui.input(|i| i.key_pressed(Key::F9));
                let seen = review.image.is_some() || review.entry_lines.is_some();
                if approve && review.case.state == CaseState::Submitted && seen {
                    self.backend.send(Command::Approve { case_id, sha256: review.output.sha256 });
                }
                let issue = ui.button("交付・印刷（F10）").clicked() || ui.input(|i| i.key_pressed(Key::F10));
                if issue {
                    // An issued case is already in the print queue: F10 resumes printing, never issues twice.
                    self.backend.send(if review.case.state == CaseState::Issued {
                        Command::ResumePrinting
                    } else {
                        Command::Issue(case_id)
                    });
                }
            });
            ui.horizontal(|ui| {
                let label = ui.label("差戻し理由");
                egui::ComboBox::from_id_salt("return-reason")
                    .selected_text(self.return_reason.label_ja())
                    .show_ui(ui, |ui| {
                        for reason in ReturnReason::ALL {
                            ui.selectable_value(
                                &mut self.return_reason,
                                reason,
                                format!("{} {}", reason.code(), reason.label_ja()),
                            );
                        }
                    })
                    .response
                    .labelled_by(label.id);
                let send_back = ui.button("差戻し（F8）").clicked() || ui.input(|i| i.key_pressed(Key::F8));
                if send_back {
                    self.backend.send(Command::Return { case_id, reason: self.return_reason });
                }
            });
            if review.case.state != CaseState::Voided {
                ui.horizontal(|ui| {
                    // The reason comes from 「損紙・取消の理由」 above the queue; core refuses a void without one.
                    let void = ui.button("取消（F7）").clicked() || ui.input(|i| i.key_pressed(Key::F7));
                    if void {
                        self.backend.send(Command::VoidCase { case_id, reason: self.staff_reason.clone() });
                    }
                });
            }
            if let Some(lines) = &review.entry_lines {
                ui.separator();
                ui.label(RichText::new("住民記録システムへ送る届出内容").strong());
                for line in lines {
                    ui.label(line);
                }
            }
            match (&review.texture, &review.preview_error) {
                (Some(texture), _) => {
                    // The decisions sit above the sheet so they never scroll out of view.
                    ui.add(egui::Image::new(texture).max_height(ui.available_height()).alt_text("帳票のプレビュー"));
                }
                (None, Some(error)) => {
                    ui.label(RichText::new(error).color(Color32::RED));
                }
                _ => {}
            }
        });
        // Reopen the case after a decision so its new state shows.
        if let Some(review) = &self.review
            && let Some(summary) = self.cases.iter().find(|c| c.id == review.case.id)
            && summary.state != review.case.state
        {
            self.backend.send(Command::OpenReview(review.case.id));
        }
    }

    /// The reason field (for 損紙 and 取消), the 発行番号 of a sheet brought back (to open its case and void it), and
    /// the suspect prints waiting for someone to look at the tray.
    fn staff_actions_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("損紙・取消の理由");
            ui.add(egui::TextEdit::singleline(&mut self.staff_reason).desired_width(280.0)).labelled_by(label.id);
        });
        let mut typed = std::mem::take(&mut self.issued_lookup);
        let number = issue_number(&typed);
        let error = number.as_ref().err().copied().filter(|_| !typed.trim().is_empty());
        let response = self.checked_field(ui, "返納された証明書の発行番号", &mut typed, false, error);
        let clicked =
            ui.horizontal(|ui| ui.add_enabled(number.is_ok(), egui::Button::new("発行番号で開く")).clicked()).inner;
        let open = clicked || (response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)));
        if open && let Ok(number) = number {
            self.backend.send(Command::OpenIssued(number));
        }
        self.issued_lookup = typed;
        if self.prints_to_check.is_empty() {
            return;
        }
        ui.label(RichText::new("印刷結果不明：プリンターのトレイを確認してください").color(ERROR_COLOR).strong());
        for job in &self.prints_to_check {
            ui.horizontal(|ui| {
                let what = match job.issue_number {
                    Some(number) => format!("発行番号 第{number:06}号"),
                    None => "照会書".to_string(),
                };
                ui.label(format!("案件{}　{what}　{}　{}", job.case_id, job.printer_station, job.label_ja()));
                let (job_id, case_id) = (job.id, job.case_id);
                if ui.button(format!("印刷済み（案件{case_id}）")).clicked() {
                    self.backend.send(Command::ResolvePrint { job_id, case_id, spoiled_reason: None });
                }
                if ui.button(format!("損紙・作成し直し（案件{case_id}）")).clicked() {
                    let reason = Some(self.staff_reason.clone());
                    self.backend.send(Command::ResolvePrint { job_id, case_id, spoiled_reason: reason });
                }
            });
        }
        ui.separator();
    }
}

#[cfg(test)]
mod tests {
    use super::issue_number;

    #[test]
    fn an_issue_number_is_typed_as_digits_with_or_without_its_frame() {
        assert_eq!(issue_number("123"), Ok(123));
        assert_eq!(issue_number(" 第000123号 "), Ok(123));
        assert!(issue_number("").is_err());
        assert!(issue_number("0").is_err());
        assert!(issue_number("12a").is_err());
        assert!(issue_number("+12").is_err());
    }
}
