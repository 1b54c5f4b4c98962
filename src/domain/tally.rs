//! The counters every store keeps on write for a book: codes by base status (locks
//! not considered) and net redemptions. How a coupon change moves them, and whether it
//! used the book up, is decided here once.

use super::book::BookSettings;
use super::coupon::BaseStatus;

/// A book's counters as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: i64,
    pub available: i64,
    pub assigned: i64,
    pub redeemed: i64,
    pub voided: i64,
    /// Net redemptions across the book (reversals deducted).
    pub redemptions: i64,
}

impl Tally {
    /// Codes that can still be handed out or redeemed.
    pub fn unused(&self) -> i64 {
        self.available + self.assigned
    }

    /// Counts one more code of `status` (a recount from the codes themselves).
    pub fn add_code(&mut self, status: BaseStatus) {
        self.total += 1;
        *self.slot(status) += 1;
    }

    fn slot(&mut self, status: BaseStatus) -> &mut i64 {
        match status {
            BaseStatus::Available => &mut self.available,
            BaseStatus::Assigned => &mut self.assigned,
            BaseStatus::Redeemed => &mut self.redeemed,
            BaseStatus::Voided => &mut self.voided,
        }
    }
}

/// How one coupon change moves its book's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TallyDelta {
    /// -1 when the coupon itself goes (a deleted code).
    pub total: i64,
    pub available: i64,
    pub assigned: i64,
    pub redeemed: i64,
    pub voided: i64,
    /// +1 for a redemption, -1 for a reversal.
    pub redemptions: i64,
    /// The change assigns or redeems, so the book can no longer be deleted.
    pub marks_in_use: bool,
}

impl TallyDelta {
    pub fn new(before: BaseStatus, after: BaseStatus, redemptions: i64) -> Self {
        let mut moved = Tally::default();
        if before != after {
            *moved.slot(before) -= 1;
            *moved.slot(after) += 1;
        }
        TallyDelta {
            total: 0,
            available: moved.available,
            assigned: moved.assigned,
            redeemed: moved.redeemed,
            voided: moved.voided,
            redemptions,
            marks_in_use: false,
        }
    }

    /// A coupon of `status` removed from its book.
    pub fn removal(status: BaseStatus) -> Self {
        let mut moved = Tally::default();
        *moved.slot(status) -= 1;
        TallyDelta {
            total: -1,
            available: moved.available,
            assigned: moved.assigned,
            redeemed: moved.redeemed,
            voided: moved.voided,
            redemptions: 0,
            marks_in_use: false,
        }
    }

    /// Both changes together (several codes of one book changed in one step).
    pub fn plus(self, other: TallyDelta) -> TallyDelta {
        TallyDelta {
            total: self.total + other.total,
            available: self.available + other.available,
            assigned: self.assigned + other.assigned,
            redeemed: self.redeemed + other.redeemed,
            voided: self.voided + other.voided,
            redemptions: self.redemptions + other.redemptions,
            marks_in_use: self.marks_in_use || other.marks_in_use,
        }
    }

    pub fn marking_in_use(mut self) -> Self {
        self.marks_in_use = true;
        self
    }

    /// Nothing to write: stores must not send an empty update.
    pub fn is_empty(&self) -> bool {
        *self == TallyDelta::default()
    }

    /// Each counter that moves, by the name stores give it.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, i64)> {
        [
            ("total", self.total),
            ("available", self.available),
            ("assigned", self.assigned),
            ("redeemed", self.redeemed),
            ("voided", self.voided),
            ("unused", self.available + self.assigned),
            ("redemptions", self.redemptions),
        ]
        .into_iter()
        .filter(|(_, delta)| *delta != 0)
    }

    /// The counters after this change (net redemptions never below zero).
    pub fn apply(&self, tally: &Tally) -> Tally {
        Tally {
            total: tally.total + self.total,
            available: tally.available + self.available,
            assigned: tally.assigned + self.assigned,
            redeemed: tally.redeemed + self.redeemed,
            voided: tally.voided + self.voided,
            redemptions: (tally.redemptions + self.redemptions).max(0),
        }
    }
}

/// Whether a change from `before` to `after` used the book up: the last code to hand
/// out or to redeem went, or the redemption budget was reached. Exactly the change
/// that crosses the edge announces `book.exhausted`.
pub fn became_exhausted(settings: &BookSettings, before: &Tally, after: &Tally) -> bool {
    let codes_gone = before.unused() > 0 && after.unused() <= 0;
    let available_gone = before.available > 0 && after.available <= 0;
    let budget_gone = settings
        .max_total_redemptions
        .map(|max| max.min(i64::MAX as u64) as i64)
        .is_some_and(|max| before.redemptions < max && after.redemptions >= max);
    codes_gone || available_gone || budget_gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_that_keeps_the_status_moves_nothing() {
        let delta = TallyDelta::new(BaseStatus::Voided, BaseStatus::Voided, 0);
        assert!(delta.is_empty());
        assert_eq!(delta.counters().count(), 0);
        assert!(!delta.marking_in_use().is_empty());
    }

    #[test]
    fn a_removed_code_leaves_the_total_and_its_status() {
        let delta = TallyDelta::removal(BaseStatus::Available);
        let names: Vec<_> = delta.counters().collect();
        assert_eq!(
            names,
            vec![("total", -1), ("available", -1), ("unused", -1)]
        );
        let delta = TallyDelta::removal(BaseStatus::Voided);
        let names: Vec<_> = delta.counters().collect();
        assert_eq!(names, vec![("total", -1), ("voided", -1)]);
        let before = Tally {
            total: 3,
            available: 2,
            voided: 1,
            ..Tally::default()
        };
        let after = delta.apply(&before);
        assert_eq!((after.total, after.voided, after.available), (2, 0, 2));
    }

    #[test]
    fn moves_are_counted_out_and_in() {
        let delta = TallyDelta::new(BaseStatus::Available, BaseStatus::Assigned, 0);
        let names: Vec<_> = delta.counters().collect();
        assert_eq!(names, vec![("available", -1), ("assigned", 1)]);
        let delta = TallyDelta::new(BaseStatus::Assigned, BaseStatus::Redeemed, 1);
        let names: Vec<_> = delta.counters().collect();
        assert_eq!(
            names,
            vec![
                ("assigned", -1),
                ("redeemed", 1),
                ("unused", -1),
                ("redemptions", 1)
            ]
        );
    }

    #[test]
    fn only_the_change_that_crosses_an_edge_exhausts() {
        let settings = crate::domain::book::BookSettings {
            max_total_redemptions: Some(2),
            ..crate::domain::book::BookSettings::neutral()
        };
        let before = Tally {
            total: 2,
            available: 1,
            assigned: 1,
            redemptions: 0,
            ..Tally::default()
        };
        let assign = TallyDelta::new(BaseStatus::Available, BaseStatus::Assigned, 0);
        let after = assign.apply(&before);
        assert!(
            became_exhausted(&settings, &before, &after),
            "last available code"
        );
        assert!(!became_exhausted(&settings, &after, &after));
        let redeem = TallyDelta::new(BaseStatus::Assigned, BaseStatus::Redeemed, 1);
        let once = redeem.apply(&after);
        assert!(!became_exhausted(&settings, &after, &once));
        let twice = redeem.apply(&once);
        assert!(
            became_exhausted(&settings, &once, &twice),
            "codes and budget gone"
        );
    }
}
