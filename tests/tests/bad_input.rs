//! Bad input through the dispatcher: every refusal has the right gRPC code, names the
//! request field in its message, and changes nothing (the whole shop state and every
//! session are read back and compared; only `now_ms` and presence deadlines, which
//! move with the clock, are left out).

use fenliu_tests::*;
use pb::{AccountStatus, OrderStatus, SessionState};
use tonic::transport::Channel;
use tonic::{Code, Status};

const SHOP: &str = "shop-1";

/// Everything a refused call must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: pb::ShopState,
    sessions: Vec<pb::Session>,
}

/// A shop with some of everything: accounts a and b (one slot each, online), an
/// admin, an operations account, a group, two assigned sessions and a queued one.
struct Fixture {
    node: TestNode,
    client: Client,
    /// b1 on a, b2 on b, b3 waiting in the shop queue.
    sessions: Vec<u64>,
    before: Snapshot,
}

impl Fixture {
    async fn start() -> Fixture {
        Self::start_with(ShopBuilder::kuaishou(SHOP)).await
    }

    async fn start_with(builder: ShopBuilder) -> Fixture {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        builder
            .cs("a", 1)
            .cs("b", 1)
            .with_roles("admin", &[pb::Role::Admin])
            .with_roles("ops", &[pb::Role::Operations])
            .group("after", &["b"], &[OrderStatus::AfterSales])
            .online(&["a", "b"])
            .create(&mut client)
            .await;
        let mut sessions = Vec::new();
        for buyer in ["b1", "b2", "b3"] {
            sessions.push(route_new(&mut client, SHOP, buyer).await.id());
        }
        let mut fixture = Fixture {
            node,
            client,
            sessions,
            before: Snapshot {
                state: pb::ShopState::default(),
                sessions: Vec::new(),
            },
        };
        fixture.before = fixture.snapshot().await;
        assert_eq!(fixture.before.sessions[2].state(), SessionState::Queued);
        fixture
    }

    async fn snapshot(&mut self) -> Snapshot {
        let state = comparable(shop_state(&mut self.client, SHOP).await);
        let mut sessions = Vec::new();
        for id in &self.sessions {
            sessions.push(get_session(&mut self.client, SHOP, *id).await);
        }
        Snapshot { state, sessions }
    }

    /// Asserts the refusal, then that the shop is exactly as before.
    #[track_caller]
    fn refused<T: std::fmt::Debug>(
        &mut self,
        result: Result<T, Status>,
        code: Code,
        field: &str,
    ) -> impl Future<Output = ()> + '_ {
        let status = assert_refused(result, code, field);
        async move {
            let after = self.snapshot().await;
            assert_eq!(
                after, self.before,
                "the refused call ({status:?}) changed the shop"
            );
        }
    }

    async fn stop(self) {
        self.node.stop().await;
    }
}

fn upsert_shop(change: impl FnOnce(&mut pb::UpsertShopRequest)) -> pb::UpsertShopRequest {
    let mut request = pb::UpsertShopRequest {
        shop_id: SHOP.to_owned(),
        ..Default::default()
    };
    change(&mut request);
    request
}

/// 129 bytes of UTF-8 in 43 characters: the limit is in bytes.
fn id_of_129_bytes() -> String {
    "分".repeat(43)
}

/// 128 bytes of UTF-8.
fn id_of_128_bytes(tail: &str) -> String {
    assert_eq!(tail.len(), 2);
    format!("{}{tail}", "分".repeat(42))
}

#[tokio::test]
async fn an_unknown_shop_is_not_found_naming_shop_id_and_is_not_created_by_the_call() {
    bounded(async {
        let mut f = Fixture::start().await;
        let ghost = "no-such-shop";
        let c = &mut f.client;
        let results: Vec<(&str, Result<(), Status>)> = vec![
            ("GetShop", try_get_shop(c, ghost).await.map(drop)),
            ("GetShopState", try_shop_state(c, ghost).await.map(drop)),
            (
                "Route",
                try_route(c, route_request(ghost, "b1", OrderStatus::NoActiveOrder))
                    .await
                    .map(drop),
            ),
            (
                "UpsertAccount",
                c.upsert_account(cs_account(ghost, "a", 1)).await.map(drop),
            ),
            (
                "SetAccountStatus",
                c.set_account_status(pb::SetAccountStatusRequest {
                    shop_id: ghost.to_owned(),
                    account_id: "a".to_owned(),
                    status: AccountStatus::Online as i32,
                })
                .await
                .map(drop),
            ),
            (
                "Heartbeat",
                c.heartbeat(pb::HeartbeatRequest {
                    shop_id: ghost.to_owned(),
                    account_ids: vec!["a".to_owned()],
                })
                .await
                .map(drop),
            ),
            ("GetSession", try_get_session(c, ghost, 1).await.map(drop)),
            (
                "EndSession",
                try_end_session(c, ghost, 1, "").await.map(drop),
            ),
            (
                "Transfer",
                try_transfer(c, ghost, 1, MAIN, "a").await.map(drop),
            ),
            (
                "PullQueued",
                try_pull(c, ghost, "a", "shop").await.map(drop),
            ),
            (
                "UpsertGroup",
                c.upsert_group(pb::UpsertGroupRequest {
                    shop_id: ghost.to_owned(),
                    name: "g".to_owned(),
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
            (
                "RemoveAccount",
                c.remove_account(pb::RemoveAccountRequest {
                    shop_id: ghost.to_owned(),
                    account_id: "a".to_owned(),
                })
                .await
                .map(drop),
            ),
            (
                "RemoveGroup",
                c.remove_group(pb::RemoveGroupRequest {
                    shop_id: ghost.to_owned(),
                    name: "g".to_owned(),
                })
                .await
                .map(drop),
            ),
        ];
        for (call, result) in results {
            let status = result.expect_err(call);
            assert_eq!(status.code(), Code::NotFound, "{call}: {status:?}");
            assert!(status.message().contains("shop_id"), "{call}: {status:?}");
        }
        assert_refused(
            try_get_shop(&mut f.client, ghost).await,
            Code::NotFound,
            "shop_id",
        );
        let unchanged = f.snapshot().await;
        assert_eq!(unchanged, f.before);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_account_is_not_found_naming_the_field_and_changes_nothing() {
    bounded(async {
        let mut f = Fixture::start().await;
        let on_a = f.sessions[0];
        let ghost = "ghost";

        let r = f
            .client
            .set_account_status(pb::SetAccountStatusRequest {
                shop_id: SHOP.to_owned(),
                account_id: ghost.to_owned(),
                status: AccountStatus::Online as i32,
            })
            .await;
        f.refused(r, Code::NotFound, "account_id").await;

        // A heartbeat naming one unknown account refuses the whole call: not even
        // the known account's presence is renewed.
        let raw_before = shop_state(&mut f.client, SHOP).await;
        let r = f
            .client
            .heartbeat(pb::HeartbeatRequest {
                shop_id: SHOP.to_owned(),
                account_ids: vec!["a".to_owned(), ghost.to_owned()],
            })
            .await;
        f.refused(r, Code::NotFound, "account_ids").await;
        let raw_after = shop_state(&mut f.client, SHOP).await;
        assert_eq!(
            account(&raw_after, "a").presence_expires_at_ms,
            account(&raw_before, "a").presence_expires_at_ms
        );

        let r = route_addressed_result(&mut f.client, "new-buyer", ghost).await;
        f.refused(r, Code::NotFound, "addressed_account_id").await;
        let r = try_transfer(&mut f.client, SHOP, on_a, ghost, "b").await;
        f.refused(r, Code::NotFound, "actor_account_id").await;
        let r = try_transfer(&mut f.client, SHOP, on_a, MAIN, ghost).await;
        f.refused(r, Code::NotFound, "to_account_id").await;
        let r = try_end_session(&mut f.client, SHOP, on_a, ghost).await;
        f.refused(r, Code::NotFound, "actor_account_id").await;
        let r = try_pull(&mut f.client, SHOP, ghost, "shop").await;
        f.refused(r, Code::NotFound, "account_id").await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| s.proxy_account_id = Some(ghost.to_owned())))
            .await;
        f.refused(r, Code::NotFound, "proxy_account_id").await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| {
                s.offline_list = Some(pb::AccountIdList {
                    account_ids: vec!["a".to_owned(), ghost.to_owned()],
                });
            }))
            .await;
        f.refused(r, Code::NotFound, "offline_list").await;
        let r = f
            .client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "after".to_owned(),
                member_account_ids: vec!["b".to_owned(), ghost.to_owned()],
                order_statuses: vec![OrderStatus::AfterSales as i32],
            })
            .await;
        f.refused(r, Code::NotFound, "member_account_ids").await;
        let r = f
            .client
            .remove_account(pb::RemoveAccountRequest {
                shop_id: SHOP.to_owned(),
                account_id: ghost.to_owned(),
            })
            .await;
        f.refused(r, Code::NotFound, "account_id").await;

        // Unknown sessions and groups, too.
        let r = try_get_session(&mut f.client, SHOP, 999).await;
        f.refused(r, Code::NotFound, "session_id").await;
        let r = try_end_session(&mut f.client, SHOP, 999, "").await;
        f.refused(r, Code::NotFound, "session_id").await;
        let r = try_transfer(&mut f.client, SHOP, 999, MAIN, "a").await;
        f.refused(r, Code::NotFound, "session_id").await;
        let r = f
            .client
            .remove_group(pb::RemoveGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "no-such-group".to_owned(),
            })
            .await;
        f.refused(r, Code::NotFound, "name").await;
        f.stop().await;
    })
    .await;
}

async fn route_addressed_result(
    client: &mut Client,
    buyer_id: &str,
    account_id: &str,
) -> Result<Routed, Status> {
    let mut request = route_request(SHOP, buyer_id, OrderStatus::NoActiveOrder);
    request.addressed_account_id = account_id.to_owned();
    try_route(client, request).await
}

/// `UpsertAccountRequest` as a client with a wider `max_concurrent` type would send
/// it: the same fields and tags, but tag 6 is an int64 (so -1 and 2^32 + 501 reach
/// the wire as such).
#[derive(Clone, PartialEq, prost::Message)]
struct WideUpsertAccountRequest {
    #[prost(string, tag = "1")]
    shop_id: String,
    #[prost(string, tag = "2")]
    account_id: String,
    #[prost(int32, repeated, tag = "4")]
    roles: Vec<i32>,
    #[prost(int64, tag = "6")]
    max_concurrent: i64,
}

async fn upsert_account_raw(
    channel: Channel,
    request: WideUpsertAccountRequest,
) -> Result<pb::Account, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/fenliu.v1.Routing/UpsertAccount");
    let codec = tonic_prost::ProstCodec::<WideUpsertAccountRequest, pb::Account>::default();
    grpc.unary(tonic::Request::new(request), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn max_concurrent_outside_1_to_500_is_invalid_naming_max_concurrent() {
    bounded(async {
        let mut f = Fixture::start().await;
        for max in [501, 1000, u32::MAX] {
            // A new account is not created, an existing one keeps its capacity.
            for account_id in ["c", "a"] {
                let r = f
                    .client
                    .upsert_account(cs_account(SHOP, account_id, max))
                    .await;
                f.refused(r, Code::InvalidArgument, "max_concurrent").await;
            }
        }
        let channel = channel(f.node.dispatcher_address()).await;
        for raw in [-1_i64, (1_i64 << 32) + 501] {
            let request = WideUpsertAccountRequest {
                shop_id: SHOP.to_owned(),
                account_id: "a".to_owned(),
                roles: vec![pb::Role::CustomerService as i32],
                max_concurrent: raw,
            };
            let r = upsert_account_raw(channel.clone(), request).await;
            f.refused(r, Code::InvalidArgument, "max_concurrent").await;
        }
        for default in [0, 501] {
            let r = f
                .client
                .upsert_shop(upsert_shop(|s| s.default_max_concurrent = Some(default)))
                .await;
            f.refused(r, Code::InvalidArgument, "default_max_concurrent")
                .await;
        }

        // The bounds themselves are accepted; 0 means the shop default.
        let at_most = f
            .client
            .upsert_account(cs_account(SHOP, "c", 500))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(at_most.effective_max_concurrent, 500);
        let default = f
            .client
            .upsert_account(cs_account(SHOP, "d", 0))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (default.max_concurrent, default.effective_max_concurrent),
            (0, 10)
        );
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_order_status_is_invalid_naming_order_status_and_opens_no_session() {
    bounded(async {
        let mut f = Fixture::start().await;
        for value in [42, 7, -1] {
            let mut request = route_request(SHOP, "new-buyer", OrderStatus::NoActiveOrder);
            request.order_status = value;
            let r = try_route(&mut f.client, request).await;
            f.refused(r, Code::InvalidArgument, "order_status").await;
        }
        let r = f
            .client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "odd".to_owned(),
                member_account_ids: vec!["a".to_owned()],
                order_statuses: vec![42],
            })
            .await;
        f.refused(r, Code::InvalidArgument, "order_statuses").await;
        // The buyer has no open session: their next message starts one.
        let first = route_new(&mut f.client, SHOP, "new-buyer").await;
        assert_ne!(first.reason, pb::RouteReason::OpenSession, "{first:?}");
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_or_unspecified_enum_values_and_out_of_range_settings_are_invalid_naming_the_field()
{
    bounded(async {
        let mut f = Fixture::start().await;
        for status in [0, 4, 42] {
            let r = f
                .client
                .set_account_status(pb::SetAccountStatusRequest {
                    shop_id: SHOP.to_owned(),
                    account_id: "a".to_owned(),
                    status,
                })
                .await;
            f.refused(r, Code::InvalidArgument, "status").await;
        }
        let settings: Vec<(&str, pb::UpsertShopRequest)> = vec![
            (
                "offline_policy",
                upsert_shop(|s| s.offline_policy = Some(99)),
            ),
            (
                "offline_policy",
                upsert_shop(|s| s.offline_policy = Some(0)),
            ),
            ("routing_mode", upsert_shop(|s| s.routing_mode = Some(0))),
            ("routing_mode", upsert_shop(|s| s.routing_mode = Some(3))),
            ("distribution", upsert_shop(|s| s.distribution = Some(9))),
            ("profile", upsert_shop(|s| s.profile = 9)),
            (
                "presence_ttl_seconds",
                upsert_shop(|s| s.presence_ttl_seconds = Some(0)),
            ),
            (
                "close_delay_seconds",
                upsert_shop(|s| s.close_delay_seconds = Some(24 * 3600 + 1)),
            ),
            (
                "affinity_window_seconds",
                upsert_shop(|s| s.affinity_window_seconds = Some(30 * 24 * 3600 + 1)),
            ),
        ];
        for (field, request) in settings {
            let r = f.client.upsert_shop(request).await;
            f.refused(r, Code::InvalidArgument, field).await;
        }
        for roles in [vec![], vec![42], vec![0]] {
            let mut request = cs_account(SHOP, "a", 1);
            request.roles = roles;
            let r = f.client.upsert_account(request).await;
            f.refused(r, Code::InvalidArgument, "roles").await;
        }
        let r = f
            .client
            .upsert_account(pb::UpsertAccountRequest {
                main_account_participates: true,
                ..cs_account(SHOP, "a", 1)
            })
            .await;
        f.refused(r, Code::InvalidArgument, "main_account_participates")
            .await;
        let r = try_pull(&mut f.client, SHOP, "a", "SOMEWHERE").await;
        f.refused(r, Code::InvalidArgument, "queue").await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn empty_and_129_byte_ids_are_invalid_naming_the_field() {
    bounded(async {
        let mut f = Fixture::start().await;
        let on_a = f.sessions[0];
        for bad in [String::new(), id_of_129_bytes()] {
            let r = try_get_shop(&mut f.client, &bad).await;
            f.refused(r, Code::InvalidArgument, "shop_id").await;
            let r = f
                .client
                .upsert_shop(pb::UpsertShopRequest {
                    shop_id: bad.clone(),
                    main_account_id: MAIN.to_owned(),
                    ..Default::default()
                })
                .await;
            f.refused(r, Code::InvalidArgument, "shop_id").await;
            let r = try_route(
                &mut f.client,
                route_request(&bad, "buyer", OrderStatus::NoActiveOrder),
            )
            .await;
            f.refused(r, Code::InvalidArgument, "shop_id").await;

            let r = try_route(
                &mut f.client,
                route_request(SHOP, &bad, OrderStatus::NoActiveOrder),
            )
            .await;
            f.refused(r, Code::InvalidArgument, "buyer_id").await;
            let mut request = route_request(SHOP, "buyer", OrderStatus::NoActiveOrder);
            request.request_id.clone_from(&bad);
            let r = try_route(&mut f.client, request).await;
            f.refused(r, Code::InvalidArgument, "request_id").await;

            let r = f.client.upsert_account(cs_account(SHOP, &bad, 1)).await;
            f.refused(r, Code::InvalidArgument, "account_id").await;
            let r = f
                .client
                .set_account_status(pb::SetAccountStatusRequest {
                    shop_id: SHOP.to_owned(),
                    account_id: bad.clone(),
                    status: AccountStatus::Online as i32,
                })
                .await;
            f.refused(r, Code::InvalidArgument, "account_id").await;
            let r = try_pull(&mut f.client, SHOP, &bad, "shop").await;
            f.refused(r, Code::InvalidArgument, "account_id").await;
            let r = try_transfer(&mut f.client, SHOP, on_a, &bad, "b").await;
            f.refused(r, Code::InvalidArgument, "actor_account_id")
                .await;
            let r = try_transfer(&mut f.client, SHOP, on_a, MAIN, &bad).await;
            f.refused(r, Code::InvalidArgument, "to_account_id").await;
            let r = f
                .client
                .upsert_group(pb::UpsertGroupRequest {
                    shop_id: SHOP.to_owned(),
                    name: bad.clone(),
                    member_account_ids: vec!["a".to_owned()],
                    order_statuses: vec![],
                })
                .await;
            f.refused(r, Code::InvalidArgument, "name").await;
        }
        // Only oversized, not empty, for ids that may be left empty.
        let r = try_end_session(&mut f.client, SHOP, on_a, &id_of_129_bytes()).await;
        f.refused(r, Code::InvalidArgument, "actor_account_id")
            .await;
        let r = route_addressed_result(&mut f.client, "buyer", &id_of_129_bytes()).await;
        f.refused(r, Code::InvalidArgument, "addressed_account_id")
            .await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn ids_of_exactly_128_bytes_are_accepted() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        let shop_id = id_of_128_bytes("sh");
        let account_id = id_of_128_bytes("ac");
        let buyer_id = id_of_128_bytes("bu");
        let shop = ShopBuilder::kuaishou(&shop_id)
            .cs(&account_id, 1)
            .online(&[&account_id])
            .create(&mut client)
            .await;
        assert_eq!(shop.shop_id, shop_id);
        let mut request = route_request(&shop_id, &buyer_id, OrderStatus::NoActiveOrder);
        request.request_id = id_of_128_bytes("rq");
        let routed = try_route(&mut client, request.clone()).await.unwrap();
        assert_assigned(&routed, &account_id, pb::RouteReason::Even);
        assert_eq!(routed.session.buyer_id, buyer_id);
        let replayed = try_route(&mut client, request).await.unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.id(), routed.id());
        let state = shop_state(&mut client, &shop_id).await;
        assert_eq!(account(&state, &account_id).session_ids, vec![routed.id()]);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r12_choosing_proxy_or_main_account_while_the_bot_is_on_is_a_failed_precondition() {
    bounded(async {
        let mut f = Fixture::start_with(ShopBuilder::kuaishou(SHOP).bot_enabled(true)).await;
        let settings = f.before.state.shop.clone().unwrap().settings.unwrap();
        assert!(settings.bot_enabled);
        let requests = [
            upsert_shop(|s| s.offline_policy = Some(pb::OfflinePolicy::MainAccount as i32)),
            upsert_shop(|s| {
                s.offline_policy = Some(pb::OfflinePolicy::ProxyAccount as i32);
                s.proxy_account_id = Some("a".to_owned());
            }),
        ];
        for request in requests {
            let r = f.client.upsert_shop(request).await;
            f.refused(r, Code::FailedPrecondition, "offline_policy")
                .await;
        }
        f.stop().await;

        // Turning the bot on and choosing MAIN_ACCOUNT in the same call is refused
        // as a whole: the bot stays off.
        let mut f = Fixture::start().await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| {
                s.bot_enabled = Some(true);
                s.offline_policy = Some(pb::OfflinePolicy::MainAccount as i32);
            }))
            .await;
        f.refused(r, Code::FailedPrecondition, "offline_policy")
            .await;
        let shop = get_shop(&mut f.client, SHOP).await;
        assert!(!shop.settings.unwrap().bot_enabled);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r20_to_r25_bad_input_is_refused_naming_the_field_and_changes_nothing() {
    bounded(async {
        let mut f = Fixture::start().await;
        let (on_a, queued) = (f.sessions[0], f.sessions[2]);
        // R23: priorities are 0 to 9.
        let mut request = route_request(SHOP, "new-buyer", OrderStatus::NoActiveOrder);
        request.priority = 10;
        let r = try_route(&mut f.client, request).await;
        f.refused(r, Code::InvalidArgument, "priority").await;
        // R21: an action without its target; unknown or unspecified actions.
        let no_target = [
            upsert_shop(|s| {
                s.max_queue_wait_seconds = Some(60);
                s.queue_timeout_action = Some(pb::QueueTimeoutAction::ProxyAccount as i32);
            }),
            upsert_shop(|s| {
                s.max_queue_wait_seconds = Some(60);
                s.queue_timeout_action = Some(pb::QueueTimeoutAction::OfflineList as i32);
            }),
        ];
        for request in no_target {
            let r = f.client.upsert_shop(request).await;
            f.refused(r, Code::FailedPrecondition, "queue_timeout_action")
                .await;
        }
        let invalid = [
            (
                upsert_shop(|s| s.queue_timeout_action = Some(0)),
                "queue_timeout_action",
            ),
            (
                upsert_shop(|s| s.queue_timeout_action = Some(99)),
                "queue_timeout_action",
            ),
            (
                upsert_shop(|s| s.max_queue_wait_seconds = Some(86_401)),
                "max_queue_wait_seconds",
            ),
            (
                upsert_shop(|s| s.reply_timeout_seconds = Some(86_401)),
                "reply_timeout_seconds",
            ),
            (
                upsert_shop(|s| s.priority_aging_seconds = Some(86_401)),
                "priority_aging_seconds",
            ),
            (
                upsert_shop(|s| s.max_reassignments = Some(0)),
                "max_reassignments",
            ),
            (
                upsert_shop(|s| s.max_reassignments = Some(11)),
                "max_reassignments",
            ),
        ];
        for (request, field) in invalid {
            let r = f.client.upsert_shop(request).await;
            f.refused(r, Code::InvalidArgument, field).await;
        }
        // R22: only the holder of an assigned session replies in it.
        let reply = |session_id: u64, account_id: &str| pb::RecordReplyRequest {
            shop_id: SHOP.to_owned(),
            session_id,
            account_id: account_id.to_owned(),
        };
        let cases = [
            (reply(on_a, "b"), Code::FailedPrecondition, "account_id"),
            (reply(queued, "a"), Code::FailedPrecondition, "account_id"),
            (reply(on_a, "nobody"), Code::NotFound, "account_id"),
            (reply(9_999, "a"), Code::NotFound, "session_id"),
            (reply(on_a, ""), Code::InvalidArgument, "account_id"),
        ];
        for (request, code, field) in cases {
            let r = f.client.record_reply(request).await;
            f.refused(r, code, field).await;
        }
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r21_a_timeout_actions_target_cannot_be_cleared_while_it_is_on_and_nothing_changes() {
    bounded(async {
        // R21 on, moving timed-out buyers to the proxy account "b" (or to the
        // offline list ["a"]): the target cannot be taken away under it.
        let proxied = ShopBuilder::kuaishou(SHOP)
            .proxy_account("b")
            .settings(|s| {
                s.max_queue_wait_seconds = Some(60);
                s.queue_timeout_action = Some(pb::QueueTimeoutAction::ProxyAccount as i32);
            });
        let mut f = Fixture::start_with(proxied).await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| s.proxy_account_id = Some(String::new())))
            .await;
        f.refused(r, Code::FailedPrecondition, "proxy_account_id")
            .await;
        // Nor may the proxy account itself go.
        let r = f
            .client
            .remove_account(pb::RemoveAccountRequest {
                shop_id: SHOP.to_owned(),
                account_id: "b".to_owned(),
            })
            .await;
        f.refused(r, Code::FailedPrecondition, "account_id").await;
        // MAIN_ACCOUNT always has its target: the main account is made with the
        // shop and cannot be removed.
        let r = f
            .client
            .remove_account(pb::RemoveAccountRequest {
                shop_id: SHOP.to_owned(),
                account_id: MAIN.to_owned(),
            })
            .await;
        f.refused(r, Code::FailedPrecondition, "account_id").await;
        f.stop().await;

        let listed = ShopBuilder::kuaishou(SHOP)
            .offline_list(&["a"])
            .settings(|s| {
                s.max_queue_wait_seconds = Some(60);
                s.queue_timeout_action = Some(pb::QueueTimeoutAction::OfflineList as i32);
            });
        let mut f = Fixture::start_with(listed).await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| {
                s.offline_list = Some(pb::AccountIdList::default());
            }))
            .await;
        f.refused(r, Code::FailedPrecondition, "offline_list").await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r19_a_transfer_by_an_account_without_permission_is_denied_naming_actor_account_id() {
    bounded(async {
        let mut f = Fixture::start().await;
        let (on_a, queued) = (f.sessions[0], f.sessions[2]);
        for actor in ["b", "ops"] {
            let r = try_transfer(&mut f.client, SHOP, on_a, actor, "b").await;
            f.refused(r, Code::PermissionDenied, "actor_account_id")
                .await;
            let r = try_transfer(&mut f.client, SHOP, queued, actor, actor).await;
            f.refused(r, Code::PermissionDenied, "actor_account_id")
                .await;
        }
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn calls_the_shops_state_forbids_are_failed_preconditions_naming_the_field() {
    bounded(async {
        let mut f = Fixture::start().await;
        let on_a = f.sessions[0];
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| s.main_account_id = "a".to_owned()))
            .await;
        f.refused(r, Code::FailedPrecondition, "main_account_id")
            .await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| s.profile = pb::Profile::Taobao as i32))
            .await;
        f.refused(r, Code::FailedPrecondition, "profile").await;
        let r = f
            .client
            .upsert_shop(upsert_shop(|s| {
                s.offline_policy = Some(pb::OfflinePolicy::ProxyAccount as i32);
            }))
            .await;
        f.refused(r, Code::FailedPrecondition, "proxy_account_id")
            .await;
        let r = f
            .client
            .upsert_account(account_with_roles(SHOP, "ops", &[pb::Role::Main], 0))
            .await;
        f.refused(r, Code::FailedPrecondition, "roles").await;
        let r = f
            .client
            .upsert_account(account_with_roles(SHOP, MAIN, &[pb::Role::Admin], 0))
            .await;
        f.refused(r, Code::FailedPrecondition, "roles").await;
        for account_id in [MAIN, "a"] {
            let r = f
                .client
                .remove_account(pb::RemoveAccountRequest {
                    shop_id: SHOP.to_owned(),
                    account_id: account_id.to_owned(),
                })
                .await;
            f.refused(r, Code::FailedPrecondition, "account_id").await;
        }
        let r = f
            .client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id: SHOP.to_owned(),
                name: "other".to_owned(),
                member_account_ids: vec!["a".to_owned()],
                order_statuses: vec![OrderStatus::AfterSales as i32],
            })
            .await;
        f.refused(r, Code::FailedPrecondition, "order_statuses")
            .await;
        let r = try_transfer(&mut f.client, SHOP, on_a, MAIN, "a").await;
        f.refused(r, Code::FailedPrecondition, "to_account_id")
            .await;
        let r = try_pull(&mut f.client, SHOP, "a", "AFTER_SALES").await;
        f.refused(r, Code::FailedPrecondition, "queue").await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn creating_a_shop_without_main_account_id_or_with_a_bad_setting_leaves_no_shop() {
    bounded(async {
        let node = TestNode::start().await;
        let mut client = node.client().await;
        let new = "new-shop";
        let attempts: Vec<(Code, &str, pb::UpsertShopRequest)> = vec![
            (
                Code::InvalidArgument,
                "main_account_id",
                pb::UpsertShopRequest {
                    shop_id: new.to_owned(),
                    profile: pb::Profile::Kuaishou as i32,
                    close_delay_seconds: Some(5),
                    ..Default::default()
                },
            ),
            (
                Code::InvalidArgument,
                "close_delay_seconds",
                pb::UpsertShopRequest {
                    shop_id: new.to_owned(),
                    main_account_id: MAIN.to_owned(),
                    close_delay_seconds: Some(24 * 3600 + 1),
                    ..Default::default()
                },
            ),
            (
                Code::NotFound,
                "proxy_account_id",
                pb::UpsertShopRequest {
                    shop_id: new.to_owned(),
                    main_account_id: MAIN.to_owned(),
                    proxy_account_id: Some("ghost".to_owned()),
                    ..Default::default()
                },
            ),
            (
                Code::FailedPrecondition,
                "offline_policy",
                pb::UpsertShopRequest {
                    shop_id: new.to_owned(),
                    main_account_id: MAIN.to_owned(),
                    bot_enabled: Some(true),
                    offline_policy: Some(pb::OfflinePolicy::MainAccount as i32),
                    ..Default::default()
                },
            ),
        ];
        for (code, field, request) in attempts {
            assert_refused(client.upsert_shop(request).await, code, field);
            assert_refused(
                try_get_shop(&mut client, new).await,
                Code::NotFound,
                "shop_id",
            );
        }

        // Then made properly, it has its profile's settings, nothing half-applied.
        let shop = client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id: new.to_owned(),
                profile: pb::Profile::Kuaishou as i32,
                main_account_id: MAIN.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let settings = shop.settings.unwrap();
        assert_eq!(settings.close_delay_seconds, 20 * 60);
        assert!(!settings.bot_enabled);
        assert_eq!(settings.proxy_account_id, "");
        assert_eq!(settings.offline_policy(), pb::OfflinePolicy::Queue);
        assert_eq!(settings.affinity_window_seconds, 72 * 3600);
        node.stop().await;
    })
    .await;
}
