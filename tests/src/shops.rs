//! Shops: the account requests, and [`ShopBuilder`], which makes a shop with
//! its accounts, settings, groups and statuses in one expression.

use fenliu_proto::v1 as pb;

use crate::calls::{Client, set_status};

/// The main account of every shop a [`ShopBuilder`] makes.
pub const MAIN: &str = "main";

/// A customer-service account with this capacity.
pub fn cs_account(
    shop_id: &str,
    account_id: &str,
    max_concurrent: u32,
) -> pb::UpsertAccountRequest {
    account_with_roles(
        shop_id,
        account_id,
        &[pb::Role::CustomerService],
        max_concurrent,
    )
}

/// An account with these roles and capacity (0: the shop default).
pub fn account_with_roles(
    shop_id: &str,
    account_id: &str,
    roles: &[pb::Role],
    max_concurrent: u32,
) -> pb::UpsertAccountRequest {
    pb::UpsertAccountRequest {
        shop_id: shop_id.to_owned(),
        account_id: account_id.to_owned(),
        display_name: account_id.to_owned(),
        roles: roles.iter().map(|role| *role as i32).collect(),
        non_routing: false,
        max_concurrent,
        pool_permission: false,
        main_account_participates: false,
    }
}

/// Builds a shop through the API: creates it with its profile and main account
/// ([`MAIN`]), adds the accounts, applies the settings, adds the groups, and sets
/// the statuses, in that order (so that settings naming accounts find them, and a
/// short presence TTL is in force before anyone logs in).
#[derive(Clone, Debug)]
pub struct ShopBuilder {
    shop_id: String,
    profile: pb::Profile,
    settings: pb::UpsertShopRequest,
    accounts: Vec<pb::UpsertAccountRequest>,
    groups: Vec<pb::UpsertGroupRequest>,
    statuses: Vec<(String, pb::AccountStatus)>,
}

impl ShopBuilder {
    pub fn new(shop_id: &str, profile: pb::Profile) -> Self {
        ShopBuilder {
            shop_id: shop_id.to_owned(),
            profile,
            settings: pb::UpsertShopRequest {
                shop_id: shop_id.to_owned(),
                ..Default::default()
            },
            accounts: Vec::new(),
            groups: Vec::new(),
            statuses: Vec::new(),
        }
    }

    pub fn taobao(shop_id: &str) -> Self {
        Self::new(shop_id, pb::Profile::Taobao)
    }

    pub fn kuaishou(shop_id: &str) -> Self {
        Self::new(shop_id, pb::Profile::Kuaishou)
    }

    /// Any settings, on the `UpsertShop` request sent once the accounts exist.
    pub fn settings(mut self, change: impl FnOnce(&mut pb::UpsertShopRequest)) -> Self {
        change(&mut self.settings);
        self
    }

    pub fn close_delay(self, seconds: u32) -> Self {
        self.settings(|s| s.close_delay_seconds = Some(seconds))
    }

    pub fn affinity_window(self, seconds: u32) -> Self {
        self.settings(|s| s.affinity_window_seconds = Some(seconds))
    }

    pub fn presence_ttl(self, seconds: u32) -> Self {
        self.settings(|s| s.presence_ttl_seconds = Some(seconds))
    }

    pub fn offline_policy(self, policy: pb::OfflinePolicy) -> Self {
        self.settings(|s| s.offline_policy = Some(policy as i32))
    }

    pub fn routing_mode(self, mode: pb::RoutingMode) -> Self {
        self.settings(|s| s.routing_mode = Some(mode as i32))
    }

    pub fn distribution(self, distribution: pb::Distribution) -> Self {
        self.settings(|s| s.distribution = Some(distribution as i32))
    }

    pub fn bot_enabled(self, enabled: bool) -> Self {
        self.settings(|s| s.bot_enabled = Some(enabled))
    }

    pub fn offline_forwarding(self, on: bool) -> Self {
        self.settings(|s| s.offline_forwarding = Some(on))
    }

    pub fn proxy_account(self, account_id: &str) -> Self {
        self.settings(|s| s.proxy_account_id = Some(account_id.to_owned()))
    }

    pub fn offline_list(self, account_ids: &[&str]) -> Self {
        self.settings(|s| {
            s.offline_list = Some(pb::AccountIdList {
                account_ids: account_ids.iter().map(|id| (*id).to_owned()).collect(),
            });
        })
    }

    /// A customer-service account with this capacity.
    pub fn cs(self, account_id: &str, max_concurrent: u32) -> Self {
        let account = cs_account(&self.shop_id, account_id, max_concurrent);
        self.account(account)
    }

    /// An account as given (its `shop_id` is set to this shop's).
    pub fn account(mut self, mut account: pb::UpsertAccountRequest) -> Self {
        account.shop_id.clone_from(&self.shop_id);
        self.accounts.push(account);
        self
    }

    /// An account with these roles and the shop's default capacity.
    pub fn with_roles(self, account_id: &str, roles: &[pb::Role]) -> Self {
        let account = account_with_roles(&self.shop_id, account_id, roles, 0);
        self.account(account)
    }

    pub fn group(mut self, name: &str, members: &[&str], statuses: &[pb::OrderStatus]) -> Self {
        self.groups.push(pb::UpsertGroupRequest {
            shop_id: self.shop_id.clone(),
            name: name.to_owned(),
            member_account_ids: members.iter().map(|m| (*m).to_owned()).collect(),
            order_statuses: statuses.iter().map(|s| *s as i32).collect(),
        });
        self
    }

    pub fn online(self, account_ids: &[&str]) -> Self {
        self.status(account_ids, pb::AccountStatus::Online)
    }

    pub fn suspended(self, account_ids: &[&str]) -> Self {
        self.status(account_ids, pb::AccountStatus::Suspended)
    }

    fn status(mut self, account_ids: &[&str], status: pb::AccountStatus) -> Self {
        self.statuses
            .extend(account_ids.iter().map(|id| ((*id).to_owned(), status)));
        self
    }

    /// Makes the shop; panics (naming the step) if any call is refused.
    pub async fn create(self, client: &mut Client) -> pb::Shop {
        let shop_id = self.shop_id;
        client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: shop_id.clone(),
                profile: self.profile as i32,
                main_account_id: MAIN.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("create shop {shop_id}: {status:?}"));
        for account in self.accounts {
            let account_id = account.account_id.clone();
            client
                .upsert_account(account)
                .await
                .unwrap_or_else(|status| {
                    panic!("add account {account_id} to {shop_id}: {status:?}")
                });
        }
        client
            .upsert_shop(self.settings)
            .await
            .unwrap_or_else(|status| panic!("configure shop {shop_id}: {status:?}"));
        for group in self.groups {
            let name = group.name.clone();
            client
                .upsert_group(group)
                .await
                .unwrap_or_else(|status| panic!("add group {name} to {shop_id}: {status:?}"));
        }
        for (account_id, status) in self.statuses {
            set_status(client, &shop_id, &account_id, status).await;
        }
        client
            .get_shop(pb::GetShopRequest {
                shop_id: shop_id.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("read shop {shop_id}: {status:?}"))
            .into_inner()
    }
}
