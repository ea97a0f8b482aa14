//! The case: one request's way from the operator's draft through staff review to an issued certificate. The state
//! machine lives here as a pure function; the store applies it and its database refuses any other transition.

use serde::{Deserialize, Serialize};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseState {
    /// 作成中: the operator is keying it in.
    Draft,
    /// 審査待ち: the output is handed to review.
    Submitted,
    /// 承認済: a reviewer approved the exact output bytes.
    Approved,
    /// 差戻し: returned with a coded reason.
    Returned,
    /// 交付済: issued with a 発行番号.
    Issued,
    /// 印刷結果不明: the print outcome is unknown; staff must resolve it.
    Suspect,
    /// 取消: withdrawn or voided.
    Voided,
}

/// What can happen to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseAction {
    /// Hand the output to review.
    Submit,
    /// Approve the output.
    Approve,
    /// Return with a reason.
    Return,
    /// Record the issue.
    Issue,
    /// The print outcome became unknown.
    MarkSuspect,
    /// Staff confirm a suspect print came out.
    ConfirmPrinted,
    /// Staff declare a suspect print of an issued case spoiled: the case goes back to its operator to be prepared
    /// again under a new 発行番号 (and approved again).
    Spoil,
    /// Withdraw or void.
    Void,
}

impl CaseState {
    /// Every state, in stored order.
    pub const ALL: [CaseState; 7] = [
        CaseState::Draft,
        CaseState::Submitted,
        CaseState::Approved,
        CaseState::Returned,
        CaseState::Issued,
        CaseState::Suspect,
        CaseState::Voided,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Draft => "draft",
            CaseState::Submitted => "submitted",
            CaseState::Approved => "approved",
            CaseState::Returned => "returned",
            CaseState::Issued => "issued",
            CaseState::Suspect => "suspect",
            CaseState::Voided => "voided",
        }
    }

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            CaseState::Draft => "作成中",
            CaseState::Submitted => "審査待ち",
            CaseState::Approved => "承認済",
            CaseState::Returned => "差戻し",
            CaseState::Issued => "交付済",
            CaseState::Suspect => "印刷結果不明",
            CaseState::Voided => "取消",
        }
    }

    /// The state after `action`, or `None` if the action is not allowed now.
    pub fn after(self, action: CaseAction) -> Option<CaseState> {
        use CaseAction as A;
        use CaseState as S;
        match (self, action) {
            (S::Draft | S::Returned, A::Submit) => Some(S::Submitted),
            (S::Submitted, A::Approve) => Some(S::Approved),
            (S::Submitted, A::Return) => Some(S::Returned),
            (S::Approved, A::Issue) => Some(S::Issued),
            (S::Approved, A::MarkSuspect) => Some(S::Suspect),
            (S::Suspect, A::ConfirmPrinted) => Some(S::Issued),
            (S::Suspect, A::Spoil) => Some(S::Submitted),
            (S::Issued, A::Spoil) => Some(S::Draft),
            (S::Draft | S::Submitted | S::Returned | S::Approved | S::Issued, A::Void) => Some(S::Voided),
            _ => None,
        }
    }

    /// Every allowed (from, to) pair: the database's transition table is generated from this.
    pub fn allowed_transitions() -> Vec<(CaseState, CaseState)> {
        let actions = [
            CaseAction::Submit,
            CaseAction::Approve,
            CaseAction::Return,
            CaseAction::Issue,
            CaseAction::MarkSuspect,
            CaseAction::ConfirmPrinted,
            CaseAction::Spoil,
            CaseAction::Void,
        ];
        let mut pairs: Vec<(CaseState, CaseState)> = CaseState::ALL
            .into_iter()
            .flat_map(|from| actions.into_iter().filter_map(move |a| from.after(a).map(|to| (from, to))))
            .collect();
        pairs.sort_by_key(|(a, b)| (a.as_str(), b.as_str()));
        pairs.dedup();
        pairs
    }
}

impl CaseAction {
    /// The Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            CaseAction::Submit => "審査依頼",
            CaseAction::Approve => "承認",
            CaseAction::Return => "差戻し",
            CaseAction::Issue => "交付",
            CaseAction::MarkSuspect => "印刷結果不明の記録",
            CaseAction::ConfirmPrinted => "印刷済の確認",
            CaseAction::Spoil => "損紙処理",
            CaseAction::Void => "取消",
        }
    }
}

/// Coded reasons for a return (差戻し). Staff choose from the list; there is no free-text channel to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReturnReason {
    /// R01 請求者の本人確認が不十分
    IdentityInsufficient,
    /// R02 請求事由が不明確
    PurposeUnclear,
    /// R03 記載事項の選択誤り
    WrongItems,
    /// R04 対象者の選択誤り
    WrongPerson,
    /// R05 入力内容の誤り
    EntryError,
    /// R06 委任状の不備
    LetterOfAttorneyDefective,
    /// R07 手数料・通数の誤り
    FeeOrCopiesWrong,
    /// R99 職員による対応が必要
    NeedsStaffHandling,
}

impl ReturnReason {
    /// Every reason, in list order.
    pub const ALL: [ReturnReason; 8] = [
        ReturnReason::IdentityInsufficient,
        ReturnReason::PurposeUnclear,
        ReturnReason::WrongItems,
        ReturnReason::WrongPerson,
        ReturnReason::EntryError,
        ReturnReason::LetterOfAttorneyDefective,
        ReturnReason::FeeOrCopiesWrong,
        ReturnReason::NeedsStaffHandling,
    ];

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            ReturnReason::IdentityInsufficient => "R01",
            ReturnReason::PurposeUnclear => "R02",
            ReturnReason::WrongItems => "R03",
            ReturnReason::WrongPerson => "R04",
            ReturnReason::EntryError => "R05",
            ReturnReason::LetterOfAttorneyDefective => "R06",
            ReturnReason::FeeOrCopiesWrong => "R07",
            ReturnReason::NeedsStaffHandling => "R99",
        }
    }

    /// Parse a stored code.
    pub fn parse(code: &str) -> Option<ReturnReason> {
        ReturnReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            ReturnReason::IdentityInsufficient => "請求者の本人確認が不十分",
            ReturnReason::PurposeUnclear => "請求事由が不明確",
            ReturnReason::WrongItems => "記載事項の選択誤り",
            ReturnReason::WrongPerson => "対象者の選択誤り",
            ReturnReason::EntryError => "入力内容の誤り",
            ReturnReason::LetterOfAttorneyDefective => "委任状の不備",
            ReturnReason::FeeOrCopiesWrong => "手数料・通数の誤り",
            ReturnReason::NeedsStaffHandling => "職員による対応が必要",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_loop_is_the_only_way_to_issue() {
        assert_eq!(CaseState::Draft.after(CaseAction::Issue), None);
        assert_eq!(CaseState::Submitted.after(CaseAction::Issue), None);
        assert_eq!(CaseState::Draft.after(CaseAction::Approve), None);
        let issued = CaseState::Draft
            .after(CaseAction::Submit)
            .and_then(|s| s.after(CaseAction::Approve))
            .and_then(|s| s.after(CaseAction::Issue));
        assert_eq!(issued, Some(CaseState::Issued));
    }

    #[test]
    fn a_suspect_print_is_never_reissued_without_a_new_approval() {
        assert_eq!(CaseState::Suspect.after(CaseAction::Issue), None);
        assert_eq!(CaseState::Suspect.after(CaseAction::Spoil), Some(CaseState::Submitted));
        assert_eq!(CaseState::Voided.after(CaseAction::Submit), None);
        // A spoiled sheet of an issued case: back to its operator, who hands over a new output (a new number) for a
        // new approval; the case can never be issued again straight away.
        let spoiled = CaseState::Issued.after(CaseAction::Spoil);
        assert_eq!(spoiled, Some(CaseState::Draft));
        assert_eq!(spoiled.and_then(|s| s.after(CaseAction::Issue)), None);
    }

    #[test]
    fn names_and_codes_round_trip() {
        for state in CaseState::ALL {
            assert_eq!(CaseState::parse(state.as_str()), Some(state));
        }
        for reason in ReturnReason::ALL {
            assert_eq!(ReturnReason::parse(reason.code()), Some(reason));
        }
        assert!(CaseState::allowed_transitions().contains(&(CaseState::Submitted, CaseState::Approved)));
        assert!(!CaseState::allowed_transitions().contains(&(CaseState::Draft, CaseState::Issued)));
    }
}
