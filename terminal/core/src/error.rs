//! Errors of the counter core. Each carries an English `Display` for logs and the CLI and a Japanese
//! `message_ja()` for the UI, chosen from the error's kind, never from a library's text.

use backend_adapter::ResidentSystemError;

use crate::auth::{Permission, Role};
use crate::case::{CaseAction, CaseState};

/// One invalid form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`requester.purpose`, `birth_date`, …).
    pub field: String,
    /// English reason, for logs.
    pub message: String,
    /// Japanese reason, shown beside the field.
    pub message_ja: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>, message_ja: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), message_ja: message_ja.into() }
    }
}

/// All invalid fields of a form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Add one.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// `Ok` when nothing was pushed.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The error of one field, if any.
    pub fn for_field(&self, field: &str) -> Option<&FieldError> {
        self.0.iter().find(|e| e.field == field)
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        write!(f, "{}", parts.join("; "))
    }
}

/// A failure of the store (database) itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused the change because it breaks one of its rules (constraint or trigger).
    #[error("the database refused the change: {0}")]
    Refused(String),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The database URL is not one madoguchi can use.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Creating or migrating the schema failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The data keys that seal resident data are missing, do not match the store, or a sealed value does not open.
    #[error(transparent)]
    DataKeys(#[from] crate::datakeys::DataKeyError),
    /// The store's data keys were destroyed at contract end: it accepts no new work.
    #[error("this store was erased at contract end (its data keys were destroyed); it accepts no new work")]
    Erased,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                let refused = db.is_unique_violation()
                    || db.is_check_violation()
                    || db.is_foreign_key_violation()
                    || message.contains("madoguchi:");
                if refused { StoreError::Refused(message) } else { StoreError::Database(message) }
            }
            _ => StoreError::Database(err.to_string()),
        }
    }
}

/// Why a 印鑑登録証 does not give a 印鑑登録証明書.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealCardProblem {
    /// The card's registration is another person's.
    #[error("the card's registration belongs to another person than the one chosen")]
    OtherPerson,
    /// The registration was abolished (廃止, or cancelled by a 転出).
    #[error("the card's registration is abolished")]
    Abolished,
    /// The registrant is no longer a resident.
    #[error("the registrant is no longer an active resident")]
    NotResident,
}

impl SealCardProblem {
    /// The message for the UI.
    pub fn message_ja(self) -> &'static str {
        match self {
            SealCardProblem::OtherPerson => {
                "この印鑑登録証は選んだ住民の登録ではありません。対象の住民を確認してください"
            }
            SealCardProblem::Abolished => "この印鑑登録は廃止されています。印鑑登録証明書は交付できません",
            SealCardProblem::NotResident => "登録者は住民ではありません（転出など）。印鑑登録証明書は交付できません",
        }
    }
}

/// Everything that can go wrong in a counter operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A form has invalid fields; nothing was changed.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// The person's role does not allow the action.
    #[error("{role:?} may not {permission:?}")]
    Forbidden {
        /// The role acted in.
        role: Role,
        /// What was attempted.
        permission: Permission,
    },
    /// Login failed (unknown id or wrong password; deliberately not told apart).
    #[error("login failed: unknown user id or wrong password")]
    LoginFailed,
    /// The account is locked after repeated failures.
    #[error("the account is locked")]
    AccountLocked,
    /// The user holds no valid grant for the role.
    #[error("user {login_id} holds no valid grant for role {role:?}")]
    NoGrant {
        /// Login id.
        login_id: String,
        /// Role asked for.
        role: Role,
    },
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind.
        what: &'static str,
        /// Which.
        id: String,
    },
    /// The case is not in a state that allows the action.
    #[error("case {case_id} is {from:?}; it cannot be {action:?}")]
    InvalidTransition {
        /// The case.
        case_id: i64,
        /// Its state.
        from: CaseState,
        /// The action attempted.
        action: CaseAction,
    },
    /// The reviewer prepared the case themselves.
    #[error("the preparer of case {case_id} cannot approve it")]
    SelfApproval {
        /// The case.
        case_id: i64,
    },
    /// The approval names other bytes than the case's output.
    #[error("the approval for case {case_id} does not match the output under review")]
    OutputMismatch {
        /// The case.
        case_id: i64,
    },
    /// A 異動 of the household is approved but not yet committed to the resident system: a certificate now would
    /// show the record as it was.
    #[error("case {case_id} must wait: the 異動 of case {pending_case} is not yet committed to the resident system")]
    AwaitingResidentSystem {
        /// The certificate case.
        case_id: i64,
        /// The 異動 case still in the outbox.
        pending_case: i64,
    },
    /// A 転出証明書 is asked of a case that is not an approved paper 転出 (a 特例転出 prints nothing).
    #[error("case {case_id} is not an approved paper move-out; no move-out certificate can be made of it")]
    NoMoveOutCertificate {
        /// The case named.
        case_id: i64,
    },
    /// The 転出 case already has its 転出証明書 case (a spoiled sheet is printed again on that case).
    #[error("the move-out of case {move_case} already has its certificate case")]
    MoveOutCertificateExists {
        /// The 転出 case.
        move_case: i64,
    },
    /// The resident system does not hold the 転出 the certificate would certify (its entry was refused, or the
    /// record changed since).
    #[error("the resident system does not hold the move-out of case {move_case} as it was approved")]
    MoveOutNotRecorded {
        /// The 転出 case.
        move_case: i64,
    },
    /// The 印鑑登録証 presented does not prove a live registration of the chosen resident.
    #[error("no seal certificate: {0}")]
    SealCardRefused(SealCardProblem),
    /// A 手数料表 that cannot be used (entered on screen, or stored unreadable); nothing is charged by it.
    #[error("{0}")]
    FeeTable(#[from] crate::fees::FeeTableError),
    /// 支援措置 / 抑止: no certificate may be prepared; the case goes to staff.
    #[error("a support measure (DV etc.) restricts this record; the request is routed to staff")]
    SupportMeasure,
    /// The change would leave fewer than two admins, and then no grant could ever be approved.
    #[error("at least two admins must hold their grant, so that every grant can be approved by a second one")]
    TooFewAdmins,
    /// A grant request decided by the admin who made it.
    #[error("grant request {request_id} must be decided by another admin than its requester")]
    SameAdmin {
        /// The request.
        request_id: i64,
    },
    /// The case is not a 印鑑登録 by 照会書 whose 照会書 was approved.
    #[error("case {case_id} is not a seal registration by inquiry (照会書方式) with an approved letter")]
    NotAnInquiryCase {
        /// The case.
        case_id: i64,
    },
    /// The case was voided (取消): nothing more is done on it.
    #[error("case {case_id} was voided")]
    CaseVoided {
        /// The case.
        case_id: i64,
    },
    /// Only a returned case of the operator's own post is corrected, for the same household or person and task.
    #[error(
        "case {case_id} cannot be revised: only a returned case of this post, for the same subject and task family"
    )]
    NotRevisable {
        /// The case.
        case_id: i64,
    },
    /// The approved 照会書 has not come out of the printer: it cannot have been mailed.
    #[error("the inquiry letter of case {case_id} has not been printed")]
    InquiryLetterNotPrinted {
        /// The case.
        case_id: i64,
    },
    /// The deadline printed on the 照会書 has passed: the letter is not mailed.
    #[error("the inquiry letter of case {case_id} gives a deadline ({deadline}) that has passed")]
    InquiryLetterOutdated {
        /// The case.
        case_id: i64,
        /// The deadline printed on it.
        deadline: jiff::civil::Date,
    },
    /// The 照会 was already decided.
    #[error("the inquiry of case {case_id} is already {}", state.as_str())]
    InquiryNotPending {
        /// The case.
        case_id: i64,
        /// Where it stands.
        state: crate::inquiry::InquiryState,
    },
    /// A 回答書 brought after the deadline.
    #[error("the answer (回答書) for case {case_id} came after its deadline {deadline}")]
    AnswerPastDeadline {
        /// The case.
        case_id: i64,
        /// The last day it was accepted.
        deadline: jiff::civil::Date,
    },
    /// The count differs from the records and no explanation was given; nothing was closed.
    #[error("the day's count differs from the records ({}); explain it to close the day", lines.join("; "))]
    CloseMismatch {
        /// Each differing line, described.
        lines: Vec<String>,
    },
    /// Prints whose outcome staff have not settled (queued, sending, or suspect and unresolved): the paper and the
    /// issued count of the day are not known yet.
    #[error("print jobs {jobs:?} are not settled (queued, printing, or suspect and unresolved); settle them first")]
    PrintsUnsettled {
        /// The jobs.
        jobs: Vec<i64>,
    },
    /// The print job is not a suspect print awaiting staff (never suspect, or resolved already).
    #[error("print job {job_id} is not a suspect print awaiting resolution")]
    NotASuspectPrint {
        /// The job.
        job_id: i64,
    },
    /// An approved 異動 entry is on its way to the resident system (or there already): it is not voided here.
    #[error("case {case_id} is an approved move entry on its way to the resident system; it cannot be voided")]
    EntryOnItsWay {
        /// The case.
        case_id: i64,
    },
    /// A void or resolution needs its reason.
    #[error("a reason is required")]
    ReasonRequired,
    /// The day was closed already.
    #[error("{day} is already closed")]
    DayAlreadyClosed {
        /// The day.
        day: jiff::civil::Date,
    },
    /// Erasure confirmed by the same admin who erases.
    #[error("erasure needs a second, different admin to confirm it")]
    ErasureNeedsSecondAdmin,
    /// The terminal locked or refused a session (USB key absent or removed, removable storage, idle).
    #[error("the terminal is locked: {0}")]
    TerminalLocked(crate::guard::LockReason),
    /// The case's task does not need this protected field, so the caller may not see it.
    #[error("case {case_id} does not need the {field:?} of this person; the field is not shown")]
    FieldNotNeeded {
        /// The case.
        case_id: i64,
        /// The field asked for.
        field: crate::request::ProtectedField,
    },
    /// The certificate cannot be laid out (an item too long, a character no font has, …); nothing reached review.
    #[error("the certificate cannot be laid out: {0}")]
    Layout(crate::render::layout::LayoutError),
    /// Rendering the laid-out certificate failed.
    #[error("the certificate could not be rendered: {0}")]
    Render(String),
    /// The resident system failed or refused.
    #[error(transparent)]
    ResidentSystem(#[from] ResidentSystemError),
    /// The store failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CoreError {
    fn from(err: sqlx::Error) -> Self {
        CoreError::Store(StoreError::from(err))
    }
}

impl StoreError {
    /// The message for the UI.
    pub fn message_ja(&self) -> String {
        match self {
            StoreError::Refused(_) => "データベースがこの変更を拒否しました。内容を確認してください".to_string(),
            StoreError::DataKeys(_) => {
                "データ鍵で記録を開けません（鍵ファイルがない、別の鍵、または消去済みです）。管理者に連絡してください"
                    .to_string()
            }
            StoreError::Erased => "この記録は契約終了により消去済みです。新しい業務には使えません".to_string(),
            _ => "データベースに接続できません。入力内容は保持されています。管理者に連絡してください".to_string(),
        }
    }
}

impl CoreError {
    /// The message for the UI.
    pub fn message_ja(&self) -> String {
        match self {
            CoreError::Validation(errors) => {
                let lines: Vec<&str> = errors.0.iter().map(|e| e.message_ja.as_str()).collect();
                format!("入力内容に誤りがあります：{}", lines.join("／"))
            }
            CoreError::Forbidden { role, .. } => {
                format!("{}の権限ではこの操作はできません", role.label_ja())
            }
            CoreError::LoginFailed => "利用者IDまたはパスワードが正しくありません".to_string(),
            CoreError::AccountLocked => {
                "ログインの失敗が続いたためアカウントがロックされています。管理者に連絡してください".to_string()
            }
            CoreError::NoGrant { role, .. } => {
                format!("{}の権限が付与されていないか、有効期限が切れています", role.label_ja())
            }
            CoreError::NotFound { what, id } => format!("{what}（{id}）が見つかりません"),
            CoreError::InvalidTransition { from, action, .. } => {
                format!("この案件は「{}」のため「{}」はできません", from.label_ja(), action.label_ja())
            }
            CoreError::SelfApproval { .. } => {
                "自分が作成した案件は審査できません。別の職員が審査してください".to_string()
            }
            CoreError::OutputMismatch { .. } => {
                "審査した内容と案件の出力が一致しません。画面を更新して再度審査してください".to_string()
            }
            CoreError::SealCardRefused(problem) => problem.message_ja().to_string(),
            CoreError::FeeTable(err) => err.message_ja(),
            CoreError::NoMoveOutCertificate { case_id } => format!(
                "案件{case_id}は承認済みの転出届（転出証明書を交付するもの）ではありません。特例転出では転出証明書は交付しません"
            ),
            CoreError::MoveOutCertificateExists { move_case } => format!(
                "案件{move_case}の転出証明書はすでに作成されています。損紙は同じ案件で作成し直してください"
            ),
            CoreError::MoveOutNotRecorded { move_case } => format!(
                "案件{move_case}の転出が住民記録のとおりではありません（届出が受け付けられなかったか、記録が変わっています）。職員に確認してください"
            ),
            CoreError::AwaitingResidentSystem { pending_case, .. } => format!(
                "この世帯の異動（案件{pending_case}）がまだ住民記録システムに反映されていません。反映後に作成してください"
            ),
            CoreError::TerminalLocked(reason) => reason.message_ja(),
            CoreError::TooFewAdmins => {
                "管理者は常に2名以上必要です（権限の付与には別の管理者の承認が要るため）".to_string()
            }
            CoreError::SameAdmin { .. } => "権限の付与は、申請した管理者とは別の管理者が承認してください".to_string(),
            CoreError::NotAnInquiryCase { .. } => {
                "この案件は照会書方式の印鑑登録ではないか、照会書が承認されていません".to_string()
            }
            CoreError::CaseVoided { .. } => "この案件は取り消されています。必要なら新しい案件として受け付けてください".to_string(),
            CoreError::NotRevisable { .. } => {
                "修正できるのは、この窓口で差し戻された案件を同じ住民・同じ業務のまま直す場合だけです。別の住民や業務は新しい案件として受け付けてください".to_string()
            }
            CoreError::InquiryLetterNotPrinted { .. } => {
                "照会書がまだ印刷されていません。承認と印刷のあとで発送を記録してください".to_string()
            }
            CoreError::InquiryLetterOutdated { deadline, .. } => format!(
                "照会書の回答期限（{}）が過ぎているため発送できません。改めて登録の申請を受け付けてください",
                crate::wareki::date_label(*deadline)
            ),
            CoreError::InquiryNotPending { state, .. } => format!("この照会はすでに「{}」です", state.label_ja()),
            CoreError::AnswerPastDeadline { deadline, .. } => format!(
                "回答期限（{}）を過ぎているため回答書を受理できません。改めて登録の申請を受け付けてください",
                crate::wareki::date_label(*deadline)
            ),
            CoreError::CloseMismatch { lines } => {
                format!("記録と実数が合いません：{}。理由を記入すると締めることができます", lines.join("／"))
            }
            CoreError::PrintsUnsettled { jobs } => format!(
                "印刷待ち・印刷中・印刷結果不明の証明書が{}件あります。先に印刷結果を確認してください",
                jobs.len()
            ),
            CoreError::NotASuspectPrint { .. } => "この印刷は印刷結果不明ではないか、すでに確認済みです".to_string(),
            CoreError::EntryOnItsWay { .. } => {
                "承認済みの異動は住民記録システムへ送信されるため取り消せません。訂正は新しい案件で行ってください"
                    .to_string()
            }
            CoreError::ReasonRequired => "理由を入力してください".to_string(),
            CoreError::DayAlreadyClosed { day } => format!("{}はすでに締め済みです", crate::wareki::date_label(*day)),
            CoreError::ErasureNeedsSecondAdmin => "データの消去には、別の管理者の確認が必要です".to_string(),
            CoreError::FieldNotNeeded { field, .. } => {
                format!("この案件では{}を表示できません（請求に含まれていない項目です）", field.label_ja())
            }
            CoreError::SupportMeasure => {
                "この住民には支援措置（抑止）が設定されています。職員に引き継いでください".to_string()
            }
            CoreError::Layout(err) => err.message_ja(),
            CoreError::Render(_) => "証明書を作成できませんでした。システム管理者に連絡してください".to_string(),
            CoreError::ResidentSystem(err) => err.message_ja(),
            CoreError::Store(err) => err.message_ja(),
        }
    }
}
