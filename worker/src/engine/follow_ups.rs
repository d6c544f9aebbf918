//! What a shop keeps besides its entities for R20–R23: the moments queue waits and
//! reply waits run out (R21, R22), the waiting sessions with a raised priority
//! (R23), and how good past wait estimates were (R20). The indexes are derived
//! from the sessions and the settings, kept in step by `follow_up_index` and
//! rebuilt on restore; the accuracy is stored with the shop's counters.

use std::collections::{BTreeMap, BTreeSet};

use super::free_rate::EstimateAccuracy;
use super::model::{QueueName, SessionId, Timestamp};

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FollowUps {
    /// R21: queued sessions by the moment their wait runs out (created + the
    /// maximum queue wait). Empty while the shop has no maximum.
    pub(crate) queue_deadlines: BTreeSet<(Timestamp, SessionId)>,
    /// R22: assigned sessions whose buyer waits for a reply, by the moment they
    /// become unanswered. Empty while the shop has no reply timeout.
    pub(crate) reply_deadlines: BTreeSet<(Timestamp, SessionId)>,
    /// R23: per queue, its sessions with a priority above 0, by (priority, arrival
    /// order): the oldest of each level is the first of its range. A queue absent
    /// here is served plainly first in, first out.
    pub(crate) raised: BTreeMap<QueueName, BTreeSet<(u8, u64, SessionId)>>,
    /// R20: how well the estimates given when sessions were queued held.
    pub(crate) accuracy: EstimateAccuracy,
}
