//! The business day's close (日計・用紙の締め): what the records say the day should have brought in — fees per
//! counter post, security paper (改ざん防止用紙) left at each printer — against what staff counted. A mismatch is not
//! an error to hide: the close is refused until staff write down why, and the explanation stays with the close.

use serde::{Deserialize, Serialize};

/// What the day should show, or what staff counted: yen per post and sheets on hand per printer station.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigures {
    /// (post, yen), by post.
    pub cash: Vec<(String, i64)>,
    /// (printer station, sheets on hand), by station.
    pub paper: Vec<(String, i64)>,
}

impl DayFigures {
    /// Sorted by post and station, so two sets compare line by line.
    pub fn normalized(mut self) -> Self {
        self.cash.sort();
        self.paper.sort();
        self
    }
}

/// One line where the count differs from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// 「現金」 or 「用紙」 and the post or station.
    pub what: String,
    /// What the records say.
    pub expected: i64,
    /// What was counted.
    pub counted: i64,
}

impl Discrepancy {
    /// For the screen and the error message.
    pub fn describe_ja(&self) -> String {
        format!("{}：記録 {}、実数 {}（差 {}）", self.what, self.expected, self.counted, self.counted - self.expected)
    }
}

/// The lines where `counted` differs from `expected`; a post or station missing from either side counts as 0.
pub fn discrepancies(expected: &DayFigures, counted: &DayFigures) -> Vec<Discrepancy> {
    let mut found = Vec::new();
    let mut compare = |label: &str, expected: &[(String, i64)], counted: &[(String, i64)]| {
        let mut keys: Vec<&String> = expected.iter().chain(counted).map(|(key, _)| key).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let value = |list: &[(String, i64)]| list.iter().filter(|(k, _)| k == key).map(|(_, v)| v).sum::<i64>();
            let (e, c) = (value(expected), value(counted));
            if e != c {
                found.push(Discrepancy { what: format!("{label}（{key}）"), expected: e, counted: c });
            }
        }
    };
    compare("現金", &expected.cash, &counted.cash);
    compare("用紙", &expected.paper, &counted.paper);
    found
}

/// A closed day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayClose {
    /// The ward day.
    pub day: jiff::civil::Date,
    /// What the records said.
    pub expected: DayFigures,
    /// What staff counted.
    pub counted: DayFigures,
    /// Why they differ (required when they do).
    pub explanation: Option<String>,
    /// Who closed it.
    pub closed_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(cash: &[(&str, i64)], paper: &[(&str, i64)]) -> DayFigures {
        let own = |list: &[(&str, i64)]| list.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        DayFigures { cash: own(cash), paper: own(paper) }
    }

    #[test]
    fn every_differing_or_missing_line_is_a_discrepancy() {
        let expected = figures(&[("post-1", 900), ("post-2", 300)], &[("review-1", 97)]);
        assert!(discrepancies(&expected, &expected.clone()).is_empty());
        let counted = figures(&[("post-1", 600)], &[("review-1", 97), ("review-2", 5)]);
        let found: Vec<String> = discrepancies(&expected, &counted).iter().map(Discrepancy::describe_ja).collect();
        assert_eq!(
            found,
            vec![
                "現金（post-1）：記録 900、実数 600（差 -300）",
                "現金（post-2）：記録 300、実数 0（差 -300）",
                "用紙（review-2）：記録 0、実数 5（差 5）",
            ]
        );
    }
}
