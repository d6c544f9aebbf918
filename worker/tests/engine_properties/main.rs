//! Property tests of the routing engine: random shops, random sequences of calls and
//! clock steps, and after every step the rules of `routing-rules.md` that must hold
//! whatever happened before.
//!
//! The engine is driven through its public API only. Time moves only in explicit
//! `Advance` steps, so every other call runs at the state's own clock and its events
//! are exactly the call's effects; the events of each step are replayed from the
//! state before the step to know each account's occupancy and status at the moment of
//! every assignment.
//!
//! The modules:
//!
//! - `strategies`: what a scenario is (setup and ops) and how proptest draws it.
//! - `shop`: builds the scenario's shop.
//! - `harness`: runs the ops as calls and hands each step to a property.
//! - `event_replay`: replays a step's events to the state at every assignment.
//! - `oracle`: the rules restated over a shop's state, to judge the engine by.
//! - The properties' checks, by what they check: `occupancy` (recount, capacity, free
//!   slots), `placement` (R1, R2–R13, R11, R12), `distribution` (R9), `queues` (R14,
//!   R18), `lifecycle` (R15, R16, R19), `persistence` (write set, restore),
//!   `limits` (the caps on a shop's size) and `beyond` (R21–R25, with their
//!   settings on and priorities on the routes).
//!
//! The `#[test]` functions live here, at the crate root, so that the properties keep
//! their plain names (a test in a module is named `module::name`); each calls the
//! `check_` function of its module.

mod event_replay;
mod harness;
mod oracle;
mod shop;
mod strategies;

mod beyond;
mod distribution;
mod lifecycle;
mod limits;
mod occupancy;
mod persistence;
mod placement;
mod queues;

use fenliu_worker::engine::{Distribution, Profile};
use proptest::prelude::*;

use crate::beyond::{extras_strategy, queue_scenario_strategy};
use crate::distribution::{buyers_strategy, even_run, spread};
use crate::strategies::{config, scenario_strategy};

proptest! {
    #![proptest_config(config(256))]

    // Each property is the `check_` function of the same name, in the module of
    // what it checks.

    #[test]
    fn write_set_names_every_changed_entity(scenario in scenario_strategy()) {
        persistence::check_write_set_names_every_changed_entity(&scenario)?;
    }

    #[test]
    fn engine_invariants_hold_after_every_step(scenario in scenario_strategy()) {
        occupancy::check_engine_invariants_hold_after_every_step(&scenario)?;
    }

    #[test]
    fn restored_shop_decides_as_the_running_one(scenario in scenario_strategy()) {
        persistence::check_restored_shop_decides_as_the_running_one(&scenario)?;
    }

    #[test]
    fn r01_each_buyer_has_at_most_one_open_session(scenario in scenario_strategy()) {
        placement::check_r01_each_buyer_has_at_most_one_open_session(&scenario)?;
    }

    #[test]
    fn r01_replayed_route_returns_the_first_answer(scenario in scenario_strategy()) {
        placement::check_r01_replayed_route_returns_the_first_answer(&scenario)?;
    }

    #[test]
    fn r02_to_r13_new_buyer_placed_by_first_deciding_rule(scenario in scenario_strategy()) {
        placement::check_r02_to_r13_new_buyer_placed_by_first_deciding_rule(&scenario)?;
    }

    #[test]
    fn capacity_is_exceeded_only_by_exception_rules(scenario in scenario_strategy()) {
        occupancy::check_capacity_is_exceeded_only_by_exception_rules(&scenario)?;
    }

    #[test]
    fn r07_r08_r14_automatic_picks_take_a_free_slot(scenario in scenario_strategy()) {
        occupancy::check_r07_r08_r14_automatic_picks_take_a_free_slot(&scenario)?;
    }

    #[test]
    fn r11_non_routing_never_assigned_automatically(scenario in scenario_strategy()) {
        placement::check_r11_non_routing_never_assigned_automatically(&scenario)?;
    }

    #[test]
    fn r14_queues_are_fifo(scenario in scenario_strategy()) {
        queues::check_r14_queues_are_fifo(&scenario)?;
    }

    #[test]
    fn r14_drain_takes_the_oldest_session_the_account_may_serve(scenario in scenario_strategy()) {
        queues::check_r14_drain_takes_the_oldest_session_the_account_may_serve(&scenario)?;
    }

    #[test]
    fn r14_nobody_waits_while_a_servable_slot_is_free(scenario in scenario_strategy()) {
        queues::check_r14_nobody_waits_while_a_servable_slot_is_free(&scenario)?;
    }

    #[test]
    fn r09_least_loaded_pick_has_fewest_occupied_slots(scenario in scenario_strategy()) {
        distribution::check_r09_least_loaded_pick_has_fewest_occupied_slots(&scenario)?;
    }

    #[test]
    fn r18_message_pool_is_left_only_by_hand(scenario in scenario_strategy()) {
        queues::check_r18_message_pool_is_left_only_by_hand(&scenario)?;
    }

    #[test]
    fn r12_bot_disables_affinity_and_forbidden_policies(scenario in scenario_strategy()) {
        placement::check_r12_bot_disables_affinity_and_forbidden_policies(&scenario)?;
    }

    #[test]
    fn r16_transfer_goes_through_whenever_the_actor_may_make_it(scenario in scenario_strategy()) {
        lifecycle::check_r16_transfer_goes_through_whenever_the_actor_may_make_it(&scenario)?;
    }

    #[test]
    fn r19_end_and_pull_accepted_exactly_when_permitted(scenario in scenario_strategy()) {
        lifecycle::check_r19_end_and_pull_accepted_exactly_when_permitted(&scenario)?;
    }

    #[test]
    fn r19_refused_calls_change_nothing(scenario in scenario_strategy()) {
        lifecycle::check_r19_refused_calls_change_nothing(&scenario)?;
    }

    #[test]
    fn r15_close_delay_and_presence_ttl_run_out_on_time(scenario in scenario_strategy()) {
        lifecycle::check_r15_close_delay_and_presence_ttl_run_out_on_time(&scenario)?;
    }

    #[test]
    fn caps_refuse_only_growth_and_otherwise_decide_as_without_them(scenario in scenario_strategy()) {
        limits::check_caps_refuse_only_growth_and_otherwise_decide_as_without_them(&scenario)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// R9: with LEAST_LOADED, equal capacities and nothing ending, counts differ by
    /// at most one.
    #[test]
    fn r09_equal_capacity_counts_differ_by_at_most_one(
        accounts in 2usize..=6,
        taobao in any::<bool>(),
        buyers in buyers_strategy(),
    ) {
        let profile = if taobao { Profile::Taobao } else { Profile::Kuaishou };
        let counts = even_run(Distribution::LeastLoaded, profile, accounts, &buyers)?;
        prop_assert_eq!(counts.iter().sum::<usize>(), buyers.len());
        prop_assert!(spread(&counts) <= 1, "counts {:?}", counts);
    }

    /// R9: the same with ROUND_ROBIN.
    #[test]
    fn r09_round_robin_counts_differ_by_at_most_one(
        accounts in 2usize..=6,
        taobao in any::<bool>(),
        buyers in buyers_strategy(),
    ) {
        let profile = if taobao { Profile::Taobao } else { Profile::Kuaishou };
        let counts = even_run(Distribution::RoundRobin, profile, accounts, &buyers)?;
        prop_assert_eq!(counts.iter().sum::<usize>(), buyers.len());
        prop_assert!(spread(&counts) <= 1, "counts {:?}", counts);
    }
}

proptest! {
    #![proptest_config(config(128))]

    // R21–R25 with their settings on; each is the `check_` function of the same
    // name in `beyond`.

    #[test]
    fn r23_an_aged_session_is_overtaken_by_no_later_arrival(
        scenario in queue_scenario_strategy(true),
    ) {
        beyond::check_r23_an_aged_session_is_overtaken_by_no_later_arrival(&scenario)?;
    }

    #[test]
    fn r23_aging_alone_keeps_queues_fifo(scenario in queue_scenario_strategy(false)) {
        beyond::check_r23_aging_alone_keeps_queues_fifo(&scenario)?;
    }

    #[test]
    fn r24_explain_never_changes_a_decision(
        scenario in scenario_strategy(),
        extras in extras_strategy(true),
    ) {
        beyond::check_r24_explain_never_changes_a_decision(&scenario, &extras)?;
    }

    #[test]
    fn r25_overflow_is_counted_by_the_rule_that_allowed_it(
        scenario in scenario_strategy(),
        extras in extras_strategy(true),
    ) {
        beyond::check_r25_overflow_is_counted_by_the_rule_that_allowed_it(&scenario, &extras)?;
    }

    #[test]
    fn r21_r22_deadlines_survive_a_restore(
        scenario in scenario_strategy(),
        extras in extras_strategy(true),
    ) {
        beyond::check_r21_r22_deadlines_survive_a_restore(&scenario, &extras)?;
    }
}
