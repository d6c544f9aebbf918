//! Authentication and authorization through the real API: a dispatcher and a
//! worker with authentication on, callers with tokens of the test's own key.
//! Every refusal is asserted by its code and by reading the shop back: a refused
//! call changes nothing.
//!
//! - `every_rpc`: one call of each `fenliu.v1.Routing` method, to sweep them all.
//! - this file: the tests.

mod every_rpc;

use std::sync::Arc;

use fenliu_node::auth::minting::SigningKey;
use fenliu_tests::*;
use tonic::Code;

use every_rpc::{Rpc, call};

const SHOP: &str = "auth-shop";
const OTHER_SHOP: &str = "other-shop";

/// A node with authentication on, and a shop with accounts `a` (holding a
/// session) and `b`, and one buyer queued.
async fn node_with_shop() -> (TestNode, Arc<TestAuth>) {
    let auth = Arc::new(TestAuth::new());
    let node = TestNode::start_with_auth(auth.clone()).await;
    let mut platform = node.client().await;
    for shop in [SHOP, OTHER_SHOP] {
        ShopBuilder::kuaishou(shop)
            .cs("a", 1)
            .cs("b", 1)
            .online(&["a"])
            .create(&mut platform)
            .await;
        route_new(&mut platform, shop, "buyer-1").await;
        route_new(&mut platform, shop, "buyer-2").await;
    }
    (node, auth)
}

/// The shop as it is now, to compare after a refused call.
async fn snapshot(node: &TestNode) -> pb::ShopState {
    let mut platform = node.client().await;
    comparable(shop_state(&mut platform, SHOP).await)
}

/// Calls every RPC on `shop` with `client`, and asserts each is refused with
/// `code`, naming `what`, and that the shop did not change.
async fn assert_every_rpc_refused(
    node: &TestNode,
    client: &mut Client,
    shop: &str,
    code: Code,
    what: &str,
) {
    let before = snapshot(node).await;
    for rpc in Rpc::ALL {
        let refused = call(client, rpc, shop).await;
        let status = refused.expect_err(&format!("{rpc:?} should be refused"));
        assert_eq!(status.code(), code, "{rpc:?}: {status:?}");
        assert!(
            status.message().contains(what),
            "{rpc:?}: the refusal should name {what:?}: {:?}",
            status.message()
        );
    }
    assert_eq!(
        snapshot(node).await,
        before,
        "a refused call changed the shop"
    );
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated_on_every_rpc_and_changes_nothing() {
    bounded(async {
        let (node, _auth) = node_with_shop().await;
        let mut anonymous = node.client_with_token(None).await;
        assert_every_rpc_refused(&node, &mut anonymous, SHOP, Code::Unauthenticated, "bearer")
            .await;
        // A worker reached directly refuses the same way.
        let mut direct = connect(node.worker_address()).await;
        let refused = try_shop_state(&mut direct, SHOP).await;
        assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn expired_wrong_issuer_wrong_audience_forged_and_unknown_key_tokens_are_unauthenticated() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let mut expired = auth.claims(&["*"], ALL_SCOPES);
        expired.exp = expired.iat - 3600;
        let mut issuer = auth.claims(&["*"], ALL_SCOPES);
        issuer.iss = "https://elsewhere.test".to_owned();
        let mut audience = auth.claims(&["*"], ALL_SCOPES);
        audience.aud = "another-service".to_owned();
        let stranger = SigningKey::generate_es256().unwrap();
        let forged = SigningKey::from_pem(
            &stranger.private_pem,
            jsonwebtoken::Algorithm::ES256,
            Some(&auth.key.kid),
        )
        .unwrap();
        let cases = [
            ("expired", auth.sign(&expired)),
            ("iss", auth.sign(&issuer)),
            ("aud", auth.sign(&audience)),
            (
                "signature",
                forged.sign(&auth.claims(&["*"], ALL_SCOPES)).unwrap(),
            ),
            (
                "key id",
                stranger.sign(&auth.claims(&["*"], ALL_SCOPES)).unwrap(),
            ),
            ("malformed", "not-a-jwt".to_owned()),
        ];
        for (why, token) in cases {
            let mut client = node.client_with_token(Some(&token)).await;
            assert_every_rpc_refused(&node, &mut client, SHOP, Code::Unauthenticated, why).await;
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn keys_rotate_by_rewriting_the_jwks_file_without_a_restart() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let old_token = auth.platform_token();
        let new_key = SigningKey::generate_es256().unwrap();
        let new_token = new_key.sign(&auth.claims(&["*"], ALL_SCOPES)).unwrap();
        let mut with_new = node.client_with_token(Some(&new_token)).await;
        assert_eq!(
            try_shop_state(&mut with_new, SHOP)
                .await
                .unwrap_err()
                .code(),
            Code::Unauthenticated,
            "not yet published"
        );
        auth.publish(&[&new_key]);
        // Both the dispatcher and the worker read the file again by themselves.
        wait_for("the new key to be accepted", || {
            let mut client = with_new.clone();
            async move { try_shop_state(&mut client, SHOP).await.ok() }
        })
        .await;
        let mut with_old = node.client_with_token(Some(&old_token)).await;
        wait_for("the old key to be refused", || {
            let mut client = with_old.clone();
            async move {
                let refused = try_shop_state(&mut client, SHOP).await.err()?;
                (refused.code() == Code::Unauthenticated).then_some(())
            }
        })
        .await;
        let mut direct = connect_with_token(node.worker_address(), Some(&new_token)).await;
        try_shop_state(&mut direct, SHOP).await.unwrap();
        assert_eq!(
            try_shop_state(&mut with_old, SHOP)
                .await
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_shop_outside_the_token_is_denied_on_every_rpc_and_changes_nothing() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let token = auth.sign(&auth.claims(&[OTHER_SHOP], ALL_SCOPES));
        let mut client = node.client_with_token(Some(&token)).await;
        assert_every_rpc_refused(&node, &mut client, SHOP, Code::PermissionDenied, "shop_id").await;
        // The same token works on its own shop.
        try_shop_state(&mut client, OTHER_SHOP).await.unwrap();
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_missing_scope_is_denied_on_every_rpc_that_needs_it() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        for scope in ["fenliu:admin", "fenliu:route", "fenliu:act", "fenliu:read"] {
            let others: Vec<&str> = ALL_SCOPES.split(' ').filter(|s| *s != scope).collect();
            let token = auth.sign(&auth.claims(&["*"], &others.join(" ")));
            let mut client = node.client_with_token(Some(&token)).await;
            let before = snapshot(&node).await;
            for rpc in Rpc::ALL.into_iter().filter(|rpc| rpc.scope() == scope) {
                let status = call(&mut client, rpc, SHOP).await.unwrap_err();
                assert_eq!(status.code(), Code::PermissionDenied, "{rpc:?}: {status:?}");
                assert!(status.message().contains(scope), "{rpc:?}: {status:?}");
            }
            assert_eq!(snapshot(&node).await, before);
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_agent_token_acts_only_as_its_own_account() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let agent = auth.sign(&auth.claims(&[SHOP], ALL_SCOPES).as_account("b"));
        let mut as_b = node.client_with_token(Some(&agent)).await;
        let mut platform = node.client().await;
        let held_by_a = account(&shop_state(&mut platform, SHOP).await, "a").session_ids[0];
        let before = snapshot(&node).await;
        let impersonations = [
            as_b.set_account_status(pb::SetAccountStatusRequest {
                shop_id: SHOP.to_owned(),
                account_id: "a".to_owned(),
                status: pb::AccountStatus::Offline as i32,
            })
            .await
            .map(|_| ()),
            as_b.heartbeat(pb::HeartbeatRequest {
                shop_id: SHOP.to_owned(),
                account_ids: vec!["b".to_owned(), "a".to_owned()],
            })
            .await
            .map(|_| ()),
            try_end_session(&mut as_b, SHOP, held_by_a, "a")
                .await
                .map(drop),
            try_transfer(&mut as_b, SHOP, held_by_a, "a", "b")
                .await
                .map(|_| ()),
            try_pull(&mut as_b, SHOP, "a", "shop").await.map(|_| ()),
            // R22: an agent records only its own replies.
            as_b.record_reply(pb::RecordReplyRequest {
                shop_id: SHOP.to_owned(),
                session_id: held_by_a,
                account_id: "a".to_owned(),
            })
            .await
            .map(|_| ()),
        ];
        for refused in impersonations {
            let status = refused.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            assert!(status.message().contains("account"), "{status:?}");
        }
        assert_eq!(snapshot(&node).await, before, "nothing changed");
        // As itself: its own status works; ending a session it does not hold, as
        // itself (the actor is taken from the token), is R19's refusal.
        set_status_as(&mut as_b, "b", pb::AccountStatus::Online).await;
        let r19 = try_end_session(&mut as_b, SHOP, held_by_a, "")
            .await
            .unwrap_err();
        assert_eq!(r19.code(), Code::PermissionDenied);
        assert!(r19.message().contains("b neither holds"), "{r19:?}");
        // As itself (the account is taken from the token), a reply in a session
        // it does not hold is refused (R22).
        let own_name = as_b
            .record_reply(pb::RecordReplyRequest {
                shop_id: SHOP.to_owned(),
                session_id: held_by_a,
                account_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(own_name.code(), Code::FailedPrecondition, "{own_name:?}");
        assert!(own_name.message().starts_with("account_id"), "{own_name:?}");
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn only_a_platform_token_changes_a_shops_rate_limit() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let shop_admin = auth.sign(&auth.claims(&[SHOP], ALL_SCOPES));
        let mut client = node.client_with_token(Some(&shop_admin)).await;
        let before = snapshot(&node).await;
        let lift = pb::UpsertShopRequest {
            shop_id: SHOP.to_owned(),
            route_rate_limit_per_second: Some(1_000_000),
            ..Default::default()
        };
        let refused = client.upsert_shop(lift.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(
            refused
                .message()
                .starts_with("route_rate_limit_per_second:")
        );
        assert_eq!(snapshot(&node).await, before, "nothing changed");
        // The shop's admin still changes its other settings.
        let close_delay = pb::UpsertShopRequest {
            shop_id: SHOP.to_owned(),
            close_delay_seconds: Some(9),
            ..Default::default()
        };
        client.upsert_shop(close_delay).await.unwrap();
        // The platform sets the rate limit.
        let mut platform = node.client().await;
        let shop = platform.upsert_shop(lift).await.unwrap().into_inner();
        let settings = shop.settings.expect("settings");
        assert_eq!(settings.route_rate_limit_per_second, 1_000_000);
        assert_eq!(settings.close_delay_seconds, 9);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn forged_principal_and_internal_metadata_are_stripped_by_the_dispatcher() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let forged_platform = fenliu_node::auth::principal::Principal {
            subject: "mallory".to_owned(),
            shops: fenliu_node::auth::principal::ShopGrant::Every,
            scopes: fenliu_node::auth::scopes::ScopeSet::from_claim(ALL_SCOPES),
            account: None,
        }
        .to_metadata();
        let narrow = auth.sign(&auth.claims(&[OTHER_SHOP], "fenliu:read"));
        let mut client = node.client_with_token(Some(&narrow)).await;
        let before = snapshot(&node).await;
        let mut request = tonic::Request::new(pb::GetShopStateRequest {
            shop_id: SHOP.to_owned(),
        });
        request
            .metadata_mut()
            .insert("fenliu-principal", forged_platform.parse().unwrap());
        request
            .metadata_mut()
            .insert("fenliu-not-owner", "3".parse().unwrap());
        let refused = client.get_shop_state(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        // Without a token, a forged principal does not pass either.
        let mut anonymous = node.client_with_token(None).await;
        let mut request = tonic::Request::new(pb::RouteRequest {
            shop_id: SHOP.to_owned(),
            buyer_id: "sneaky".to_owned(),
            request_id: next_request_id(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("fenliu-principal", forged_platform.parse().unwrap());
        let refused = anonymous.route(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        assert_eq!(snapshot(&node).await, before);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_platform_token_reads_any_shop_and_reading_changes_nothing() {
    bounded(async {
        let (node, auth) = node_with_shop().await;
        let mut platform = node.client().await;
        let before = snapshot(&node).await;
        for rpc in [Rpc::GetShop, Rpc::GetSession, Rpc::GetShopState] {
            call(&mut platform, rpc, SHOP).await.unwrap();
        }
        assert_eq!(snapshot(&node).await, before, "reads change nothing");
        try_shop_state(&mut platform, OTHER_SHOP).await.unwrap();
        // A reader's token reads, and only reads.
        let reader = auth.sign(&auth.claims(&[SHOP], "fenliu:read"));
        let mut client = node.client_with_token(Some(&reader)).await;
        try_shop_state(&mut client, SHOP).await.unwrap();
        let refused = call(&mut client, Rpc::Route, SHOP).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        node.stop().await;
    })
    .await;
}

async fn set_status_as(client: &mut Client, account_id: &str, status: pb::AccountStatus) {
    client
        .set_account_status(pb::SetAccountStatusRequest {
            shop_id: SHOP.to_owned(),
            account_id: account_id.to_owned(),
            status: status as i32,
        })
        .await
        .expect("an agent sets its own status");
}
