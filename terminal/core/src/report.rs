//! 日報・月報: the contract asks for counts by post, task family, certificate and requester kind, the returns and
//! their reasons, how long requests took, fees and security paper — for a day or a month. This module adds the
//! period's records up (nothing is estimated) and lays the report out with bar charts as a PDF, and as CSV for the
//! ward's own spreadsheets. It names no resident.

use jiff::civil::Date;

use crate::case::ReturnReason;
use crate::render::page::{Element, Page};
use crate::request::{CertificateKind, RequesterCategory, TaskFamily};
use crate::store::{CaseVoid, Issuance};

/// One case taken in the period, as the report needs it (no resident data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCase {
    /// The case.
    pub case_id: i64,
    /// 業務区分.
    pub family: TaskFamily,
    /// The post that took it.
    pub post: String,
    /// Login of the operator who prepared it.
    pub preparer: String,
    /// The certificate asked for, if any.
    pub certificate: Option<CertificateKind>,
    /// 請求者種別.
    pub requester: RequesterCategory,
    /// Taken (µs).
    pub created_at_us: i64,
    /// First handed to review (µs).
    pub submitted_at_us: Option<i64>,
    /// First approved (µs).
    pub approved_at_us: Option<i64>,
}

/// P50 and P90 of a duration, in seconds (nearest rank), with the number of cases measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Cases measured.
    pub count: usize,
    /// Median.
    pub p50_s: i64,
    /// 90th percentile.
    pub p90_s: i64,
}

impl Percentiles {
    fn of(mut seconds: Vec<i64>) -> Self {
        if seconds.is_empty() {
            return Percentiles::default();
        }
        seconds.sort_unstable();
        let rank = |p: usize| seconds[(seconds.len() * p).div_ceil(100).clamp(1, seconds.len()) - 1];
        Percentiles { count: seconds.len(), p50_s: rank(50), p90_s: rank(90) }
    }
}

/// One operator's (or trainee's) work in the period: what the supervisor follows (研修生の成績).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorResult {
    /// Login id.
    pub login_id: String,
    /// Cases taken.
    pub cases: i64,
    /// Of those, handed to review.
    pub handed_over: i64,
    /// Of those, approved.
    pub approved: i64,
    /// Returns of this operator's cases decided in the period.
    pub returned: i64,
    /// Taken → handed to review.
    pub processing: Percentiles,
}

impl OperatorResult {
    /// One line for the screen and the report.
    pub fn describe_ja(&self) -> String {
        let processing = if self.processing.count == 0 {
            "処理時間 該当なし".to_string()
        } else {
            format!("処理時間 P50 {}秒", self.processing.p50_s)
        };
        format!(
            "受付 {}件・審査依頼 {}件・承認 {}件・差戻し {}件・{processing}",
            self.cases, self.handed_over, self.approved, self.returned
        )
    }
}

/// The report of a period (a day for 日報, a month for 月報).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodReport {
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub until: Date,
    /// Cases taken per post.
    pub by_post: Vec<(String, i64)>,
    /// Cases per task family (label).
    pub by_family: Vec<(String, i64)>,
    /// Certificate requests per kind.
    pub by_certificate: Vec<(CertificateKind, i64)>,
    /// Cases per requester kind (label).
    pub by_requester: Vec<(String, i64)>,
    /// Returns (差戻し) per reason.
    pub returns: Vec<(ReturnReason, i64)>,
    /// Each operator's work, by login.
    pub by_operator: Vec<OperatorResult>,
    /// Taken → handed to review (処理時間).
    pub processing: Percentiles,
    /// Handed to review → approved (審査待ち時間).
    pub review_wait: Percentiles,
    /// Certificates issued, and copies.
    pub issued: i64,
    /// Copies issued.
    pub copies: i64,
    /// Fees due (yen).
    pub fees_yen: i64,
    /// Issues exempt from the fee.
    pub exempt: i64,
    /// Cases voided (取消).
    pub voids: i64,
    /// Fees refunded on those voids (yen).
    pub refunds_yen: i64,
    /// Security paper: received, used by issues, spoiled.
    pub paper_received: i64,
    /// Sheets used by issues.
    pub paper_issued: i64,
    /// Sheets spoiled: recorded by staff, and the sheets of prints resolved as spoiled.
    pub paper_spoiled: i64,
    /// Issued sheets taken back on a void.
    pub paper_voided: i64,
    /// The ward's signed checkpoint of the audit log, printed on the report so the log is anchored on paper
    /// outside the contractor's reach: (label, value) lines.
    pub audit_anchor: Vec<(String, String)>,
}

fn count_by<K: PartialEq + Clone>(keys: impl IntoIterator<Item = K>) -> Vec<(K, i64)> {
    let mut counts: Vec<(K, i64)> = Vec::new();
    for key in keys {
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts
}

fn family_label(family: TaskFamily) -> &'static str {
    match family {
        TaskFamily::Move => "住民票異動",
        TaskFamily::Certificate => "証明書",
        TaskFamily::Seal => "印鑑登録",
    }
}

/// What the period's records add up to.
pub struct PeriodRecords<'a> {
    /// First and last day.
    pub days: (Date, Date),
    /// Cases taken in the period.
    pub cases: &'a [ReportCase],
    /// Returns decided in the period: reason and the preparer's login.
    pub returns: &'a [(ReturnReason, String)],
    /// Issues in the period.
    pub issuances: &'a [Issuance],
    /// Sheets received and spoiled in the period.
    pub paper_moved: (i64, i64),
    /// Voids decided in the period.
    pub voids: &'a [CaseVoid],
    /// The issuances of the period whose print staff resolved as spoiled (their sheet is 損紙, not 交付).
    pub spoiled_issuances: &'a [i64],
}

impl PeriodReport {
    /// Add the period's records up.
    pub fn from_records(records: &PeriodRecords<'_>) -> PeriodReport {
        let cases = records.cases;
        let mut by_post = count_by(cases.iter().map(|c| c.post.clone()));
        by_post.sort();
        let mut by_family = count_by(cases.iter().map(|c| c.family));
        by_family.sort_by_key(|(family, _)| family.as_str());
        let by_certificate = CertificateKind::ALL
            .into_iter()
            .map(|kind| (kind, cases.iter().filter(|c| c.certificate == Some(kind)).count() as i64))
            .filter(|(_, n)| *n > 0)
            .collect();
        let by_requester = count_by(cases.iter().map(|c| c.requester.label_ja()));
        let returns = ReturnReason::ALL
            .into_iter()
            .map(|reason| (reason, records.returns.iter().filter(|(r, _)| *r == reason).count() as i64))
            .filter(|(_, n)| *n > 0)
            .collect();
        let seconds = |from: i64, to: i64| (to - from) / 1_000_000;
        let processing = Percentiles::of(
            cases.iter().filter_map(|c| c.submitted_at_us.map(|s| seconds(c.created_at_us, s))).collect(),
        );
        let review_wait = Percentiles::of(
            cases.iter().filter_map(|c| Some(seconds(c.submitted_at_us?, c.approved_at_us?))).collect(),
        );
        let mut operators: Vec<&str> = cases.iter().map(|c| c.preparer.as_str()).collect();
        operators.extend(records.returns.iter().map(|(_, preparer)| preparer.as_str()));
        operators.sort_unstable();
        operators.dedup();
        let by_operator = operators
            .into_iter()
            .map(|login| {
                let own: Vec<&ReportCase> = cases.iter().filter(|c| c.preparer == login).collect();
                OperatorResult {
                    login_id: login.to_string(),
                    cases: own.len() as i64,
                    handed_over: own.iter().filter(|c| c.submitted_at_us.is_some()).count() as i64,
                    approved: own.iter().filter(|c| c.approved_at_us.is_some()).count() as i64,
                    returned: records.returns.iter().filter(|(_, preparer)| preparer == login).count() as i64,
                    processing: Percentiles::of(
                        own.iter().filter_map(|c| c.submitted_at_us.map(|s| seconds(c.created_at_us, s))).collect(),
                    ),
                }
            })
            .collect();
        let issuances = records.issuances;
        let spoiled = |issuance: &Issuance| records.spoiled_issuances.contains(&issuance.id);
        let handed_out: Vec<&Issuance> = issuances.iter().filter(|i| !spoiled(i)).collect();
        PeriodReport {
            from: records.days.0,
            until: records.days.1,
            by_post,
            by_family: by_family.into_iter().map(|(f, n)| (family_label(f).to_string(), n)).collect(),
            by_certificate,
            by_requester,
            returns,
            by_operator,
            processing,
            review_wait,
            issued: handed_out.len() as i64,
            copies: handed_out.iter().map(|i| i.copies).sum(),
            fees_yen: issuances.iter().map(|i| i.fee_yen).sum(),
            exempt: issuances.iter().filter(|i| i.fee_exemption.is_some()).count() as i64,
            voids: records.voids.len() as i64,
            refunds_yen: records.voids.iter().map(|v| v.refund_yen).sum(),
            paper_received: records.paper_moved.0,
            paper_issued: handed_out.iter().map(|i| i.sheets).sum(),
            paper_spoiled: records.paper_moved.1
                + issuances.iter().filter(|i| spoiled(i)).map(|i| i.sheets).sum::<i64>(),
            paper_voided: records.voids.iter().map(|v| v.voided_sheets).sum(),
            audit_anchor: Vec::new(),
        }
    }

    /// Print the ward's signed checkpoint of the audit log on this report (監査ログのチェックポイント).
    pub fn with_checkpoint(mut self, checkpoint: &crate::checkpoint::Checkpoint) -> Self {
        let signature = hex::encode(checkpoint.signature.to_bytes());
        let (first, second) = signature.split_at(signature.len() / 2);
        self.audit_anchor = vec![
            ("署名者".into(), checkpoint.origin.clone()),
            ("記録件数".into(), checkpoint.size.to_string()),
            ("最終記録のハッシュ".into(), hex::encode(checkpoint.head)),
            ("署名日時".into(), crate::clock::format_local_time(checkpoint.at_us)),
            ("署名鍵".into(), checkpoint.key_id.clone()),
            ("署名".into(), first.to_string()),
            ("".into(), second.to_string()),
        ];
        self
    }

    /// 「日報」 for one day, 「月報」 otherwise.
    pub fn title_ja(&self) -> &'static str {
        if self.from == self.until { "日報" } else { "月報" }
    }

    /// The breakdowns drawn as bar charts, titled (the same on paper, in CSV and on the supervisor's screen).
    pub fn charts(&self) -> Vec<(&'static str, Vec<(String, i64)>)> {
        vec![
            ("窓口別の受付件数", self.by_post.clone()),
            ("業務別の受付件数", self.by_family.clone()),
            (
                "証明書の種類別の請求件数",
                self.by_certificate.iter().map(|(k, n)| (k.template_ja().to_string(), *n)).collect(),
            ),
            ("請求者種別の件数", self.by_requester.clone()),
            (
                "差戻しの理由別件数",
                self.returns.iter().map(|(r, n)| (format!("{} {}", r.code(), r.label_ja()), *n)).collect(),
            ),
            ("職員別の受付件数", self.by_operator.iter().map(|o| (o.login_id.clone(), o.cases)).collect()),
            ("職員別の差戻し件数", self.by_operator.iter().map(|o| (o.login_id.clone(), o.returned)).collect()),
        ]
    }

    /// The totals, as (label, value) lines.
    pub fn totals(&self) -> Vec<(String, String)> {
        let duration = |p: Percentiles| {
            if p.count == 0 {
                "該当なし".to_string()
            } else {
                format!("P50 {}秒・P90 {}秒（{}件）", p.p50_s, p.p90_s, p.count)
            }
        };
        vec![
            ("交付件数".into(), format!("{}件（{}通）", self.issued, self.copies)),
            ("手数料".into(), format!("{}円（免除 {}件）", self.fees_yen, self.exempt)),
            ("取消".into(), format!("{}件（還付 {}円）", self.voids, self.refunds_yen)),
            (
                "用紙".into(),
                format!(
                    "受入 {}枚・交付 {}枚・損紙 {}枚・取消 {}枚",
                    self.paper_received, self.paper_issued, self.paper_spoiled, self.paper_voided
                ),
            ),
            ("処理時間（受付→審査依頼）".into(), duration(self.processing)),
            ("審査待ち（審査依頼→承認）".into(), duration(self.review_wait)),
        ]
    }

    /// The report on A4 pages: totals, then one bar chart per breakdown.
    pub fn pages(&self) -> Vec<Page> {
        let text = Element::gothic_text;
        let mut pages = Vec::new();
        let mut page = Page::a4();
        let mut y = 25.0;
        let period = crate::wareki::date_label;
        page.elements.push(text(20.0, y, 18.0, format!("{}（窓口業務）", self.title_ja())));
        y += 8.0;
        page.elements.push(text(20.0, y, 10.0, format!("期間：{} 〜 {}", period(self.from), period(self.until))));
        y += 10.0;
        for (label, value) in self.totals() {
            page.elements.push(text(20.0, y, 10.0, label));
            page.elements.push(text(80.0, y, 10.0, value));
            y += 6.5;
        }
        if !self.audit_anchor.is_empty() {
            y += 4.0;
            page.elements.push(text(20.0, y, 11.0, "監査ログのチェックポイント（区の鍵で署名）".to_string()));
            y += 7.0;
            for (label, value) in &self.audit_anchor {
                page.elements.push(text(25.0, y, 8.0, label.clone()));
                page.elements.push(text(60.0, y, 8.0, value.clone()));
                y += 5.0;
            }
        }
        y += 6.0;
        const BAR_LEFT_MM: f32 = 85.0;
        const BAR_MAX_MM: f32 = 90.0;
        for (title, rows) in self.charts() {
            let height = 10.0 + rows.len().max(1) as f32 * 7.0;
            if y + height > 280.0 {
                pages.push(std::mem::replace(&mut page, Page::a4()));
                y = 25.0;
            }
            page.elements.push(text(20.0, y, 11.0, title.to_string()));
            y += 7.0;
            if rows.is_empty() {
                page.elements.push(text(25.0, y, 9.0, "該当なし".to_string()));
                y += 7.0;
            }
            let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
            for (label, value) in rows {
                page.elements.push(text(25.0, y, 9.0, label));
                let length = BAR_MAX_MM * value as f32 / max as f32;
                if length > 0.0 {
                    page.elements.push(Element::Rule {
                        x1_mm: BAR_LEFT_MM,
                        y1_mm: y - 1.2,
                        x2_mm: BAR_LEFT_MM + length,
                        y2_mm: y - 1.2,
                        width_mm: 4.0,
                    });
                }
                page.elements.push(text(BAR_LEFT_MM + length + 2.0, y, 9.0, value.to_string()));
                y += 7.0;
            }
            y += 5.0;
        }
        pages.push(page);
        pages
    }

    /// The report as a PDF.
    pub fn to_pdf(&self) -> Result<Vec<u8>, crate::render::pdf::PdfError> {
        crate::render::pdf::render_pdf(&self.pages())
    }

    /// The report as CSV (UTF-8, CRLF): section, item, value.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("区分,項目,値\r\n");
        let field = |text: &str| {
            if text.contains([',', '"']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
        };
        csv.push_str(&format!("期間,開始,{}\r\n期間,終了,{}\r\n", self.from, self.until));
        for (label, value) in self.totals() {
            csv.push_str(&format!("合計,{},{}\r\n", field(&label), field(&value)));
        }
        for (title, rows) in self.charts() {
            for (label, value) in rows {
                csv.push_str(&format!("{},{},{value}\r\n", field(title), field(&label)));
            }
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=10).collect());
        assert_eq!((p.count, p.p50_s, p.p90_s), (10, 5, 9));
        let one = Percentiles::of(vec![42]);
        assert_eq!((one.p50_s, one.p90_s), (42, 42));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }
}
