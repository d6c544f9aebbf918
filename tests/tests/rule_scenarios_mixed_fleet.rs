//! The rule scenarios (see `scenarios/rules.rs`, and `scenarios/beyond.rs` for
//! R20–R25) through a mixed fleet, as during a rolling upgrade: three workers on
//! one redis-server, of this build and of the next release (a version bump:
//! link and record format one higher), behind two dispatchers, one of each
//! release, the client's calls spread over both. Which release's worker serves
//! a scenario's shop alternates from one scenario's fleet to the next.

mod backend {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use fenliu_node::versions::Versions;
    use fenliu_tests::mixed_fleet::MixedFleet;

    pub async fn start() -> MixedFleet {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, Ordering::Relaxed);
        let workers: Vec<Versions> = (0..3)
            .map(|index| Versions::bumped_if((index + start).is_multiple_of(2)))
            .collect();
        MixedFleet::start(&workers, &[Versions::CURRENT, Versions::BUMPED]).await
    }
}

#[path = "scenarios/rules.rs"]
mod rules;

#[path = "scenarios/beyond.rs"]
mod beyond;
