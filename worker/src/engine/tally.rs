//! R25, fairness and overflow accounting: per account, how many sessions it took
//! by each cause, and how many it took beyond its capacity by the rule that
//! allowed it. Plain counters; [`super::model::AssignCause`] says which to count.
//!
//! The counts run from the shop's creation (or from when this version first
//! served it): a dashboard wanting "today" takes the difference of two reads.

/// How a session came to an account, without the details of [`super::model::AssignCause`]:
/// what the per-cause counts are kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CauseKind {
    /// Placed by `Route` (R2–R13).
    Rule,
    /// Taken from a queue when a slot freed (R14).
    Queue,
    /// Assigned by hand out of a queue or the pool (R16, R18).
    Manual,
    /// Moved by hand from another account (R16).
    Transfer,
    /// Pulled from a queue (R17).
    Pull,
    /// Left its queue by R21's timeout action.
    QueueTimeout,
    /// Moved by R22 after its holder did not reply.
    ReplyTimeout,
}

impl CauseKind {
    pub const ALL: [CauseKind; 7] = [
        CauseKind::Rule,
        CauseKind::Queue,
        CauseKind::Manual,
        CauseKind::Transfer,
        CauseKind::Pull,
        CauseKind::QueueTimeout,
        CauseKind::ReplyTimeout,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// A rule that lets an account take a session beyond its capacity (R25 names
/// them; the capacity property of the engine's tests allows exactly these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OverflowRule {
    /// The addressed, logged-in account.
    R2,
    /// An offline message to the addressed account.
    R3,
    /// No participating account: the main account.
    R4,
    /// The returning buyer's account.
    R5,
    /// The offline list, whatever its accounts' occupancy.
    R13b,
    /// The proxy account.
    R13d,
    /// The main account as the offline policy.
    R13e,
    /// Manual assignment or transfer (and R18's out of the pool).
    R16,
    /// Pulling from a queue.
    R17,
    /// A queue timeout's action (offline list, proxy, main account, least loaded).
    R21,
}

impl OverflowRule {
    pub const ALL: [OverflowRule; 10] = [
        OverflowRule::R2,
        OverflowRule::R3,
        OverflowRule::R4,
        OverflowRule::R5,
        OverflowRule::R13b,
        OverflowRule::R13d,
        OverflowRule::R13e,
        OverflowRule::R16,
        OverflowRule::R17,
        OverflowRule::R21,
    ];

    /// The rule's id as the rules page writes it.
    pub fn id(self) -> &'static str {
        match self {
            OverflowRule::R2 => "R2",
            OverflowRule::R3 => "R3",
            OverflowRule::R4 => "R4",
            OverflowRule::R5 => "R5",
            OverflowRule::R13b => "R13b",
            OverflowRule::R13d => "R13d",
            OverflowRule::R13e => "R13e",
            OverflowRule::R16 => "R16",
            OverflowRule::R17 => "R17",
            OverflowRule::R21 => "R21",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One account's counts (R25).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssignTally {
    /// Sessions taken, by [`CauseKind`] (in its order).
    by_cause: [u32; 7],
    /// Sessions taken while already at or past capacity, by [`OverflowRule`].
    overflow: [u32; 10],
}

impl AssignTally {
    pub fn record(&mut self, kind: CauseKind, overflow: Option<OverflowRule>) {
        let count = &mut self.by_cause[kind.index()];
        *count = count.saturating_add(1);
        if let Some(rule) = overflow {
            let count = &mut self.overflow[rule.index()];
            *count = count.saturating_add(1);
        }
    }

    pub fn taken(&self, kind: CauseKind) -> u32 {
        self.by_cause[kind.index()]
    }

    pub fn overflow(&self, rule: OverflowRule) -> u32 {
        self.overflow[rule.index()]
    }

    /// Every sessions taken beyond capacity, whatever the rule.
    pub fn overflow_total(&self) -> u32 {
        self.overflow.iter().sum()
    }

    /// The non-zero counts by cause.
    pub fn taken_by_cause(&self) -> impl Iterator<Item = (CauseKind, u32)> + '_ {
        CauseKind::ALL
            .into_iter()
            .map(|kind| (kind, self.taken(kind)))
            .filter(|(_, count)| *count > 0)
    }

    /// The non-zero overflow counts by rule.
    pub fn overflow_by_rule(&self) -> impl Iterator<Item = (OverflowRule, u32)> + '_ {
        OverflowRule::ALL
            .into_iter()
            .map(|rule| (rule, self.overflow(rule)))
            .filter(|(_, count)| *count > 0)
    }

    /// Sets a count as stored (a store reading its record back).
    pub fn set_taken(&mut self, kind: CauseKind, count: u32) {
        self.by_cause[kind.index()] = count;
    }

    /// Sets an overflow count as stored.
    pub fn set_overflow(&mut self, rule: OverflowRule, count: u32) {
        self.overflow[rule.index()] = count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r25_counts_by_cause_and_overflow_by_rule_apart() {
        let mut tally = AssignTally::default();
        tally.record(CauseKind::Rule, None);
        tally.record(CauseKind::Rule, Some(OverflowRule::R5));
        tally.record(CauseKind::QueueTimeout, Some(OverflowRule::R21));
        assert_eq!(tally.taken(CauseKind::Rule), 2);
        assert_eq!(
            tally.taken_by_cause().collect::<Vec<_>>(),
            vec![(CauseKind::Rule, 2), (CauseKind::QueueTimeout, 1)]
        );
        assert_eq!(
            tally.overflow_by_rule().collect::<Vec<_>>(),
            vec![(OverflowRule::R5, 1), (OverflowRule::R21, 1)]
        );
        assert_eq!(tally.overflow_total(), 2);
        assert_eq!(OverflowRule::R13d.id(), "R13d");
    }
}
