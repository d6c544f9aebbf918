//! The two profiles' defaults (the settings table of the rules page).

use super::*;

#[test]
fn profile_kuaishou_defaults() {
    let settings = ShopSettings::for_profile(Profile::Kuaishou);
    assert_eq!(settings.routing_mode, RoutingMode::Basic);
    assert_eq!(settings.affinity_window, hours(72));
    assert!(!settings.bot_enabled);
    assert_eq!(settings.offline_policy, OfflinePolicy::Queue);
    assert!(settings.offline_list.is_empty());
    assert_eq!(settings.proxy_account, None);
    assert!(!settings.offline_forwarding);
    assert_eq!(settings.close_delay, minutes(20));
    assert_eq!(settings.default_max_concurrent, 10);
    assert_eq!(settings.distribution, Distribution::LeastLoaded);
}

#[test]
fn profile_taobao_defaults() {
    let settings = ShopSettings::for_profile(Profile::Taobao);
    assert_eq!(settings.routing_mode, RoutingMode::Basic);
    assert_eq!(settings.affinity_window, hours(24));
    assert!(!settings.bot_enabled);
    assert_eq!(settings.offline_policy, OfflinePolicy::MainAccount);
    assert_eq!(settings.proxy_account, None);
    assert!(!settings.offline_forwarding);
    assert_eq!(settings.close_delay, minutes(20));
    assert_eq!(settings.default_max_concurrent, 10);
    assert_eq!(settings.distribution, Distribution::LeastLoaded);
}

#[test]
fn profile_new_taobao_shop_sends_offline_messages_to_main_account() {
    let mut shop = Fixture::taobao();
    shop.cs("a", 2);
    let outcome = shop.route("buyer");
    assert_assigned(&outcome, MAIN, RouteReason::MainAccount);
}

#[test]
fn profile_new_kuaishou_shop_queues_when_nobody_is_online() {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 2);
    let outcome = shop.route("buyer");
    assert_queued(&outcome, QueueName::Shop);
}

#[test]
fn profile_accounts_without_capacity_use_the_shop_default() {
    let mut shop = Fixture::kuaishou();
    shop.account("a", Fixture::config(&[Role::CustomerService], None));
    shop.online(&["a"]);
    for n in 0..10 {
        let outcome = shop.route(&format!("buyer-{n}"));
        assert_assigned(&outcome, "a", RouteReason::Even);
    }
    assert_queued(&shop.route("buyer-10"), QueueName::Shop);
    shop.settings(SettingsPatch {
        default_max_concurrent: Some(11),
        ..Default::default()
    });
    assert_eq!(
        shop.occupancy("a"),
        11,
        "the raised default drains the queue (R14)"
    );
}

#[test]
fn profile_settings_change_alone_and_are_validated() {
    let mut shop = Fixture::kuaishou();
    let before = shop.state.settings().clone();
    let refused = shop.state.update_settings(
        &SettingsPatch {
            close_delay: Some(minutes(5)),
            default_max_concurrent: Some(501),
            ..Default::default()
        },
        shop.now,
    );
    assert_eq!(refused.unwrap_err().field(), "default_max_concurrent");
    assert_eq!(
        shop.state.settings(),
        &before,
        "a refused change changes nothing"
    );
    shop.settings(SettingsPatch {
        close_delay: Some(minutes(5)),
        ..Default::default()
    });
    assert_eq!(shop.state.settings().close_delay, minutes(5));
    assert_eq!(shop.state.settings().affinity_window, hours(72));
}
