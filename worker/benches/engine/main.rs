//! Criterion benchmarks of the routing engine's decision time (issue 4), for shops of
//! 10, 100, 500 and 5,000 customer-service accounts.
//!
//! Targets, printed at the end and never asserted: the engine decides in ≤ 10 µs for
//! a shop of 500 accounts and in ≤ 50 µs for one of 5,000.
//!
//! Groups:
//! - `route_new_buyer/N`: `ShopState::route` for a buyer the shop has never seen
//!   (R1 misses, R4 passes, R5 misses, R8 + R9: the full least-loaded pick).
//! - `route_returning_buyer/N`: a buyer with an affinity to an online account (R5).
//! - `route_replay/N`: a retry of an answered request id (R1's idempotent replay).
//! - `route_group_mode/N`: GROUP mode, six groups (one per order status), accounts
//!   spread over them; new buyers with every order status in turn (R7a + R9).
//! - `drain_on_slot_free/N`: every account full, buyers waiting in the shop queue;
//!   `end_session` with a close delay of 0 closes the session and hands the freed
//!   slot to the oldest waiting buyer (R15 then R14).
//! - `route_new_buyer_rules_on/N` and `drain_on_slot_free_rules_on/N`: the same
//!   with every setting of R20–R25 on (queue and reply timeouts with reassignment,
//!   aging) and a priority on every third buyer; `route_explained/N`: a new
//!   buyer's route asking for R24's explanation (every account, so it grows with
//!   the shop: not a setting, and not held to the targets' spirit).
//!
//! The shops (see [`shops::build_routing_shop`]) are KUAISHOU shops in BASIC mode (except the
//! group one): every account CUSTOMER_SERVICE and ONLINE with a capacity of 500 (so
//! none fills), a history of `PAST_PER_ACCOUNT` closed sessions per account (so the
//! affinity, session and request-id maps are populated as in a shop that has been
//! working for a while), one ENDED session per account still in its 20-minute close
//! delay, and `OPEN_PER_ACCOUNT` open sessions per account.
//!
//! How the state changes are kept out of the figures, without letting the shop grow
//! or drift: the shop is kept *running* in virtual time ([`shops::Running`]). Before each
//! measured call, outside the timer, the clock moves on by one step (the close delay
//! divided by the number of accounts, i.e. one new buyer per account per close
//! delay), the accounts send their heartbeats and whatever fell due happens (close
//! delays run out, old request ids and closed sessions are forgotten), as the
//! server's timer would do. Then only the engine call is timed
//! ([`samples::timed`] reads the clock right before and right after it: ~25 ns
//! of overhead on a TSC clock).
//! After it, outside the timer, the events and write set are taken (as the server
//! does after every call), and the routed session is ended at once, so it holds its
//! slot for the close delay and then frees it. The shop thus stays in a steady
//! state: about `OPEN_PER_ACCOUNT` + 1 occupied slots per account, bounded maps,
//! and no clone of the shop between the measured calls (one per benchmark, before
//! it starts). Cloning a prepared shop per batch was tried first and rejected: each
//! clone's hash maps start at the same load, so every clone paid the same rehash
//! again, which a running shop pays once.
//!
//! `drain_on_slot_free` runs the same way: it ends the longest-held session (timed:
//! the end, the close with delay 0, and the drain), then a new buyer joins the back
//! of the queue (untimed), so the shop stays full with a constant queue.
//!
//! The rooms: [`shops`] builds the shops and keeps them running in virtual time;
//! [`groups`] holds the benchmark groups, [`rules_on`] those with R20–R25 on;
//! [`samples`] times the engine calls, keeps each sample and prints the summary
//! against the targets.

mod groups;
mod rules_on;
mod samples;
mod shops;

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::Criterion;

use groups::{
    drain_on_slot_free, route_group_mode, route_new_buyer, route_replay, route_returning_buyer,
};
use rules_on::{drain_on_slot_free_rules_on, route_explained, route_new_buyer_rules_on};
use samples::print_summary;

/// Criterion samples per benchmark; the summary takes the median of the last ones.
pub(crate) const SAMPLE_SIZE: usize = 30;
/// Criterion's warm-up time per benchmark.
const WARM_UP: Duration = Duration::from_secs(1);
/// Criterion's measurement time per benchmark.
const MEASUREMENT: Duration = Duration::from_secs(2);

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    let mut basic_shops = BTreeMap::new();
    route_new_buyer(&mut criterion, &mut basic_shops);
    route_returning_buyer(&mut criterion, &mut basic_shops);
    route_replay(&mut criterion, &mut basic_shops);
    route_new_buyer_rules_on(&mut criterion, &mut basic_shops);
    route_explained(&mut criterion, &mut basic_shops);
    drop(basic_shops);
    route_group_mode(&mut criterion);
    drain_on_slot_free(&mut criterion);
    drain_on_slot_free_rules_on(&mut criterion);
    criterion.final_summary();
    // `--test` (and `cargo test --benches`) runs each routine once: no figures.
    let measured = !std::env::args().any(|arg| arg == "--test" || arg == "--list");
    if measured {
        print_summary();
    }
}
