//! Builds a scenario's shop through the engine's public API, and names the accounts
//! a scenario refers to by index.

use std::time::Duration;

use fenliu_worker::engine::{
    AccountConfig, AccountId, AccountUpsert, GroupName, GroupUpsert, OrderStatus, Role,
    SettingsPatch, ShopId, ShopState, Timestamp,
};

use crate::strategies::{GroupSpec, Setup, T0};

pub(crate) fn account_id(index: usize) -> AccountId {
    if index == 0 {
        AccountId::from("main")
    } else {
        AccountId(format!("a{index}"))
    }
}

pub(crate) fn build_shop(setup: &Setup) -> (ShopState, Vec<AccountId>) {
    let now = Timestamp(T0);
    let main = account_id(0);
    let mut state = ShopState::new(ShopId::from("shop"), setup.profile, main.clone(), now);
    state
        .upsert_account(
            AccountUpsert {
                id: main.clone(),
                config: AccountConfig {
                    display_name: "main".to_owned(),
                    roles: [Role::Main].into_iter().collect(),
                    non_routing: false,
                    max_concurrent: Some(setup.main_max),
                    pool_permission: true,
                    main_account_participates: setup.main_participates,
                },
            },
            now,
        )
        .expect("the main account's config is valid");
    let mut ids = vec![main];
    for (offset, spec) in setup.accounts.iter().enumerate() {
        let id = account_id(offset + 1);
        state
            .upsert_account(
                AccountUpsert {
                    id: id.clone(),
                    config: AccountConfig {
                        display_name: id.to_string(),
                        roles: spec.roles.roles(),
                        non_routing: spec.non_routing,
                        max_concurrent: Some(spec.max_concurrent),
                        pool_permission: spec.pool_permission,
                        main_account_participates: false,
                    },
                },
                now,
            )
            .expect("a sub-account's config is valid");
        ids.push(id);
    }
    let pick = |index: usize| ids[index % ids.len()].clone();
    let base = SettingsPatch {
        routing_mode: Some(setup.mode),
        affinity_window: Some(Duration::from_millis(setup.affinity_window_ms)),
        offline_list: Some(setup.offline_list.iter().map(|i| pick(*i)).collect()),
        proxy_account: Some(Some(pick(setup.proxy))),
        offline_forwarding: Some(setup.offline_forwarding),
        close_delay: Some(Duration::from_millis(setup.close_delay_ms)),
        distribution: Some(setup.distribution),
        presence_ttl: Some(Duration::from_millis(setup.presence_ttl_ms)),
        ..SettingsPatch::default()
    };
    state
        .update_settings(&base, now)
        .expect("the base settings are valid");
    let policy = SettingsPatch {
        offline_policy: Some(setup.policy),
        ..SettingsPatch::default()
    };
    let bot = SettingsPatch {
        bot_enabled: Some(setup.bot),
        ..SettingsPatch::default()
    };
    // R12 refuses PROXY_ACCOUNT and MAIN_ACCOUNT while the bot is on: ignored.
    let patches = if setup.bot_first {
        [bot, policy]
    } else {
        [policy, bot]
    };
    for patch in &patches {
        let _ = state.update_settings(patch, now);
    }
    for (index, group) in setup.groups.iter().enumerate() {
        // A status already bound to the other group is refused: ignored.
        let _ = state.upsert_group(group_upsert(index, group, &ids), now);
    }
    let initial =
        std::iter::once(setup.main_initial).chain(setup.accounts.iter().map(|a| a.initial));
    for (id, status) in ids.iter().zip(initial) {
        state
            .set_account_status(id, status, now)
            .expect("the account exists");
    }
    state.take_events();
    state.take_write_set();
    (state, ids)
}

pub(crate) fn group_upsert(index: usize, group: &GroupSpec, ids: &[AccountId]) -> GroupUpsert {
    GroupUpsert {
        name: GroupName(format!("g{index}")),
        members: group
            .members
            .iter()
            .map(|i| ids[i % ids.len()].clone())
            .collect(),
        order_statuses: group
            .statuses
            .iter()
            .map(|s| OrderStatus::ALL[s % OrderStatus::ALL.len()])
            .collect(),
    }
}
