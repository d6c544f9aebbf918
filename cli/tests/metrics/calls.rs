//! The calls of the known sequence, each noted by method and code as the
//! client saw it: what the nodes' call counters must then say exactly.

use std::collections::BTreeMap;

use fenliu_node::metrics::rpc::CODE_NAMES;
use fenliu_tests::{Client, Routed, next_request_id, pb};
use tonic::Status;

/// Calls made, by method and code, as the client saw them.
#[derive(Debug, Default)]
pub struct Tally {
    pub calls: BTreeMap<(&'static str, &'static str), u64>,
}

impl Tally {
    /// Notes a call of `method` and returns its result.
    pub fn note<T>(
        &mut self,
        method: &'static str,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        let code = match &result {
            Ok(_) => "OK",
            Err(status) => CODE_NAMES[status.code() as usize],
        };
        *self.calls.entry((method, code)).or_default() += 1;
        result
    }

    /// How many calls of `method` ended with `code`.
    pub fn of(&self, method: &str, code: &str) -> u64 {
        self.calls
            .iter()
            .filter(|((m, c), _)| *m == method && *c == code)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A `Route` of `buyer` in `shop`, addressed to `addressed` if not empty.
pub async fn route(
    tally: &mut Tally,
    client: &mut Client,
    shop: &str,
    buyer: &str,
    addressed: &str,
) -> Result<Routed, Status> {
    let request = pb::RouteRequest {
        shop_id: shop.to_owned(),
        buyer_id: buyer.to_owned(),
        request_id: next_request_id(),
        order_status: pb::OrderStatus::NoActiveOrder as i32,
        addressed_account_id: addressed.to_owned(),
        from_bot: false,
        ..Default::default()
    };
    let result = client
        .route(request)
        .await
        .map(|answer| Routed::from_response(answer.into_inner()));
    tally.note("Route", result)
}

/// A shop change (or creation, with `profile` and `main_account_id` set).
pub async fn upsert_shop(tally: &mut Tally, client: &mut Client, request: pb::UpsertShopRequest) {
    let shop = request.shop_id.clone();
    let result = client.upsert_shop(request).await;
    tally
        .note("UpsertShop", result)
        .unwrap_or_else(|status| panic!("upsert shop {shop}: {status:?}"));
}

/// A customer-service account of capacity `max_concurrent`.
pub async fn add_agent(
    tally: &mut Tally,
    client: &mut Client,
    shop: &str,
    account: &str,
    max: u32,
) {
    let request = fenliu_tests::cs_account(shop, account, max);
    let result = client.upsert_account(request).await;
    tally
        .note("UpsertAccount", result)
        .unwrap_or_else(|status| panic!("add {account}: {status:?}"));
}

/// `account` goes online.
pub async fn online(tally: &mut Tally, client: &mut Client, shop: &str, account: &str) {
    let result = client
        .set_account_status(pb::SetAccountStatusRequest {
            shop_id: shop.to_owned(),
            account_id: account.to_owned(),
            status: pb::AccountStatus::Online as i32,
        })
        .await;
    tally
        .note("SetAccountStatus", result)
        .unwrap_or_else(|status| panic!("{account} online: {status:?}"));
}

/// A new Kuaishou shop whose main account is `main`.
pub fn new_shop(shop: &str) -> pb::UpsertShopRequest {
    pb::UpsertShopRequest {
        shop_id: shop.to_owned(),
        profile: pb::Profile::Kuaishou as i32,
        main_account_id: "main".to_owned(),
        ..Default::default()
    }
}

/// A change of `shop`'s settings (only what `change` sets).
pub fn settings(
    shop: &str,
    change: impl FnOnce(&mut pb::UpsertShopRequest),
) -> pb::UpsertShopRequest {
    let mut request = pb::UpsertShopRequest {
        shop_id: shop.to_owned(),
        ..Default::default()
    };
    change(&mut request);
    request
}
