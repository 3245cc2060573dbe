//! Per-subscriber delivery accounting: every stream's `seq` must arrive once, in order, with no
//! gap. Fed the seqs one subscriber received on one stream, and at the end the last seq the
//! stream reached, it counts what was lost, duplicated and out of order.

use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    /// The first seq expected (the one after the subscriber's starting point).
    first: i64,
    seen: BTreeSet<i64>,
    highest: Option<i64>,
    pub duplicated: u64,
    pub out_of_order: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
}

impl Tally {
    /// What went wrong, as report rows named `{prefix}lost` and so on.
    pub fn add_faults_to(&self, report: &mut super::report::Report, prefix: &str) {
        report.add(&format!("{prefix}lost"), self.lost);
        report.add(&format!("{prefix}duplicated"), self.duplicated);
        report.add(&format!("{prefix}out of order"), self.out_of_order);
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
    }
}

impl SeqTracker {
    /// A stream whose next event should carry `first`.
    pub fn starting_at(first: i64) -> Self {
        SeqTracker {
            first,
            ..Default::default()
        }
    }

    pub fn record(&mut self, seq: i64) {
        if !self.seen.insert(seq) {
            self.duplicated += 1;
            return;
        }
        if self.highest.is_some_and(|h| seq < h) {
            self.out_of_order += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
    }

    /// The count for this stream once it ended at `last` (the stream's final seq).
    pub fn finish(&self, last: i64) -> Tally {
        let expected = (last - self.first + 1).max(0) as u64;
        let in_range = self.seen.range(self.first..=last).count() as u64;
        Tally {
            delivered: self.seen.len() as u64 + self.duplicated,
            lost: expected - in_range,
            duplicated: self.duplicated,
            out_of_order: self.out_of_order,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(first: i64, seqs: &[i64], last: i64) -> Tally {
        let mut t = SeqTracker::starting_at(first);
        seqs.iter().for_each(|s| t.record(*s));
        t.finish(last)
    }

    #[test]
    fn a_perfect_stream() {
        assert_eq!(
            tally(2, &[2, 3, 4, 5], 5),
            Tally {
                delivered: 4,
                lost: 0,
                duplicated: 0,
                out_of_order: 0
            }
        );
    }

    #[test]
    fn gaps_at_the_start_middle_and_end_are_lost() {
        assert_eq!(tally(2, &[3, 5], 7).lost, 4, "2, 4, 6 and 7 never came");
        assert_eq!(tally(1, &[], 3).lost, 3);
    }

    #[test]
    fn repeats_count_as_duplicates_not_deliveries_twice() {
        let t = tally(1, &[1, 2, 2, 3, 1], 3);
        assert_eq!(
            (t.duplicated, t.lost, t.out_of_order, t.delivered),
            (2, 0, 0, 5)
        );
    }

    #[test]
    fn late_arrivals_are_out_of_order_but_not_lost() {
        let t = tally(1, &[1, 3, 2, 4], 4);
        assert_eq!((t.out_of_order, t.lost, t.duplicated), (1, 0, 0));
    }
}
