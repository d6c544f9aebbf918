//! The Redis store against a real redis-server: what is committed loads back as
//! the same shop, fencing refuses an old owner, a vanished shop is never half
//! rewritten, a remembered Route replays, and the TTL keys carry the deadlines.
//!
//! The modules:
//!
//! - `support`: a store on a fresh redis-server, the shops and write sets.
//! - `round_trip`: what is committed loads back as the same shop.
//! - `refusals`: an old owner fenced out, a shop gone from Redis.
//! - `replay`: remembered `Route` answers, alone and in a group commit.
//! - `key_layout`: where a shop's parts land in Redis, TTL keys included.
//! - `events`: the shop's stored events, numbered on across owners.
//! - `formats`: record formats across releases (rolling upgrades).
//!
//! The `#[tokio::test]` functions live here, at the crate root, so that the tests
//! keep their plain names (a test in a module is named `module::name`); each
//! calls the function of the same name in its module.

mod events;
mod formats;
mod key_layout;
mod refusals;
mod replay;
mod round_trip;
mod support;

#[tokio::test]
async fn a_committed_shop_loads_back_as_the_same_shop() {
    round_trip::a_committed_shop_loads_back_as_the_same_shop().await;
}

#[tokio::test]
async fn a_commit_of_hundreds_of_entities_loads_back_the_same() {
    round_trip::a_commit_of_hundreds_of_entities_loads_back_the_same().await;
}

#[tokio::test]
async fn an_old_owner_is_fenced_out_once_a_new_owner_loaded_the_shop() {
    refusals::an_old_owner_is_fenced_out_once_a_new_owner_loaded_the_shop().await;
}

#[tokio::test]
async fn an_update_of_a_shop_gone_from_redis_is_refused_and_writes_nothing() {
    refusals::an_update_of_a_shop_gone_from_redis_is_refused_and_writes_nothing().await;
}

#[tokio::test]
async fn a_remembered_route_replays_instead_of_committing_twice() {
    replay::a_remembered_route_replays_instead_of_committing_twice().await;
}

#[tokio::test]
async fn a_group_commit_with_one_answered_request_writes_nothing_and_names_it() {
    replay::a_group_commit_with_one_answered_request_writes_nothing_and_names_it().await;
}

#[tokio::test]
async fn presence_affinity_and_close_delay_are_keys_with_their_deadlines_as_ttl() {
    key_layout::presence_affinity_and_close_delay_are_keys_with_their_deadlines_as_ttl().await;
}

#[tokio::test]
async fn counters_move_apart_from_the_settings_and_the_shop_loads_back_the_same() {
    key_layout::counters_move_apart_from_the_settings_and_the_shop_loads_back_the_same().await;
}

#[tokio::test]
async fn events_are_stored_with_the_commit_and_numbered_on_across_loads() {
    events::events_are_stored_with_the_commit_and_numbered_on_across_loads().await;
}

#[tokio::test]
async fn a_shop_stored_by_a_newer_release_is_refused_at_load_and_left_as_it_was() {
    formats::a_shop_stored_by_a_newer_release_is_refused_at_load_and_left_as_it_was().await;
}

#[tokio::test]
async fn a_shop_of_the_previous_release_is_read_and_stamped_before_it_is_served() {
    formats::a_shop_of_the_previous_release_is_read_and_stamped_before_it_is_served().await;
}

#[tokio::test]
async fn a_shop_record_without_a_format_reads_as_the_first() {
    formats::a_shop_record_without_a_format_reads_as_the_first().await;
}

#[tokio::test]
async fn undecodable_bytes_are_corruption_not_a_newer_format() {
    formats::undecodable_bytes_are_corruption_not_a_newer_format().await;
}
