//! The shop console over HTTP, on a real dispatcher and worker (no browser):
//! the snapshot and the event stream as JSON, bad input refused naming its
//! field, the API's refusals surfaced with their code and changing nothing, and
//! a token's shops limiting what the console shows and does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fenliu_tests::http::{EventStream, HttpAnswer, http};
use fenliu_tests::*;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn get(console: SocketAddr, path: &str, token: Option<&str>) -> HttpAnswer {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    http(console, "GET", path, &headers, b"", TIMEOUT).await
}

async fn post(console: SocketAddr, path: &str, body: &str, token: Option<&str>) -> HttpAnswer {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    http(console, "POST", path, &headers, body.as_bytes(), TIMEOUT).await
}

/// A node serving the console, with shop `s1` made by `shop` ("main" and
/// "a1" with one slot); its console's address and a platform client.
async fn start(settings: NodeSettings, shop: ShopBuilder) -> (TestNode, SocketAddr, Client) {
    let settings = NodeSettings {
        console: true,
        ..settings
    };
    let node = TestNode::start_with(settings).await;
    let console = node.console_address();
    let mut client = node.client().await;
    shop.cs("a1", 1).create(&mut client).await;
    (node, console, client)
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    bounded(async {
        let (node, console, _) = start(NodeSettings::default(), ShopBuilder::taobao("s1")).await;
        let page = get(console, "/shops/s1", None).await;
        assert_eq!(page.status, 200);
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("<script src=\"/console.js\">"), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no asset from elsewhere"
        );
        let script = get(console, "/console.js", None).await;
        assert_eq!(
            script.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert!(
            String::from_utf8(script.body)
                .unwrap()
                .contains("TextDecoderStream")
        );
        let css = get(console, "/console.css", None).await;
        assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
        // Without authentication, a request addressed to a name (a page that
        // rebound its own name to the console) is refused, naming the host;
        // localhost is served.
        let rebound = http(
            console,
            "GET",
            "/shops/s1/state",
            &[("Host", "attacker.example:80")],
            b"",
            TIMEOUT,
        )
        .await;
        assert_eq!(rebound.status, 403);
        assert_eq!(rebound.json()["field"], "host", "{:?}", rebound.json());
        let local_name = format!("localhost:{}", console.port());
        let local = http(
            console,
            "GET",
            "/shops/s1/state",
            &[("Host", local_name.as_str())],
            b"",
            TIMEOUT,
        )
        .await;
        assert_eq!(local.status, 200);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn r20_the_snapshot_and_the_stream_show_a_queued_buyer_and_the_slot_that_frees() {
    bounded(async {
        let shop = ShopBuilder::taobao("s1").close_delay(0);
        let (node, console, mut client) = start(NodeSettings::default(), shop).await;
        let (status, mut events) = EventStream::open(console, "/shops/s1/events", &[]).await;
        assert_eq!(status, 200);
        let first = events.next(TIMEOUT).await;
        assert_eq!(first.name, "snapshot");
        assert_eq!(first.data["accounts"][0]["status"], "OFFLINE");

        set_status(&mut client, "s1", "a1", pb::AccountStatus::Online).await;
        let changed = events.next(TIMEOUT).await;
        assert_eq!(changed.name, "shop-event");
        assert_eq!(changed.data["kind"], "account_status_changed");
        assert_eq!(changed.data["to"], "ONLINE");
        let snapshot = events.next(TIMEOUT).await;
        assert_eq!(snapshot.name, "snapshot");
        assert_eq!(snapshot.data["accounts"][0]["status"], "ONLINE");

        let first_buyer = route_new(&mut client, "s1", "b1").await;
        let queued = route_new(&mut client, "s1", "b2").await;
        assert_eq!(queued.state(), pb::SessionState::Queued);
        let state = get(console, "/shops/s1/state", None).await.json();
        let waiting = &state["queues"][0]["sessions"][0];
        assert_eq!(waiting["buyer_id"], "b2");
        assert_eq!(waiting["queue_position"], 1);
        assert!(waiting["wait_estimate"]["known"].is_boolean());
        assert_eq!(state["accounts"][0]["occupancy"], 1);

        end_session(&mut client, "s1", first_buyer.id()).await;
        // The queued buyer takes the freed slot (R14): the stream says so.
        let queued_id = queued.id().to_string();
        loop {
            let event = events.next(TIMEOUT).await;
            if event.name == "shop-event"
                && event.data["kind"] == "session_assigned"
                && event.data["session_id"] == queued_id.as_str()
            {
                assert_eq!(event.data["rule"], "R14");
                assert_eq!(event.data["cause"], "QUEUE");
                break;
            }
        }
        // A pull made through the console is the API's PullQueued (R17).
        let pull = r#"{"account_id":"a1","queue":"shop"}"#;
        let empty = post(console, "/shops/s1/actions/pull", pull, None).await;
        assert_eq!(empty.status, 409);
        assert_eq!(empty.json()["code"], "FAILED_PRECONDITION");
        assert!(empty.json()["message"].as_str().unwrap().contains("queue"));
        let third = route_new(&mut client, "s1", "b3").await;
        assert_eq!(third.state(), pb::SessionState::Queued);
        let pulled = post(console, "/shops/s1/actions/pull", pull, None).await;
        assert_eq!(pulled.status, 200, "{:?}", pulled.json());
        assert_eq!(pulled.json()["session_id"], third.id().to_string());
        assert_eq!(
            get_session(&mut client, "s1", third.id()).await.account_id,
            "a1"
        );
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_api_refusals_keep_their_code() {
    bounded(async {
        let shop = ShopBuilder::taobao("s1");
        let (node, console, mut client) = start(NodeSettings::default(), shop).await;
        let before = comparable(shop_state(&mut client, "s1").await);

        let long = format!("/shops/{}/state", "s".repeat(129));
        let refused = get(console, &long, None).await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["field"], "shop_id");

        let asleep = post(
            console,
            "/shops/s1/actions/account-status",
            r#"{"account_id":"a1","status":"SLEEPING"}"#,
            None,
        )
        .await;
        assert_eq!(asleep.status, 400);
        assert_eq!(asleep.json()["field"], "status");

        let unknown_session = post(
            console,
            "/shops/s1/actions/transfer",
            r#"{"session_id":"999","to_account_id":"a1","actor_account_id":"main"}"#,
            None,
        )
        .await;
        assert_eq!(unknown_session.status, 404);
        assert_eq!(unknown_session.json()["code"], "NOT_FOUND");

        let unknown_account = post(
            console,
            "/shops/s1/actions/account-status",
            r#"{"account_id":"ghost","status":"ONLINE"}"#,
            None,
        )
        .await;
        assert_eq!(unknown_account.json()["code"], "NOT_FOUND");
        assert!(
            unknown_account.json()["message"]
                .as_str()
                .unwrap()
                .contains("ghost")
        );

        let too_long = post(
            console,
            "/shops/s1/actions/setting",
            r#"{"name":"max_queue_wait_seconds","value":999999}"#,
            None,
        )
        .await;
        assert_eq!(too_long.status, 400);
        assert_eq!(too_long.json()["code"], "INVALID_ARGUMENT");
        assert!(
            too_long.json()["message"]
                .as_str()
                .unwrap()
                .contains("max_queue_wait_seconds")
        );

        // Not declared JSON (a form another site could post): refused.
        let text = [("Content-Type", "text/plain")];
        let body = br#"{"account_id":"a1","status":"ONLINE"}"#;
        let path = "/shops/s1/actions/account-status";
        let undeclared = http(console, "POST", path, &text, body, TIMEOUT).await;
        assert_eq!(undeclared.status, 400);
        assert_eq!(undeclared.json()["field"], "content-type");

        assert_eq!(
            comparable(shop_state(&mut client, "s1").await),
            before,
            "refusals change nothing"
        );

        let delay = post(
            console,
            "/shops/s1/actions/setting",
            r#"{"name":"close_delay_seconds","value":42}"#,
            None,
        )
        .await;
        assert_eq!(delay.status, 200, "{:?}", delay.json());
        let shop = get_shop(&mut client, "s1").await;
        assert_eq!(shop.settings.unwrap().close_delay_seconds, 42);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_token_for_another_shop_gets_no_snapshot_no_stream_and_no_action() {
    bounded(async {
        let auth = Arc::new(TestAuth::new());
        let settings = NodeSettings::with_auth(auth.clone());
        let (node, console, mut client) = start(settings, ShopBuilder::taobao("s1")).await;
        let before = comparable(shop_state(&mut client, "s1").await);
        let other = auth.sign(&auth.claims(&["s2"], ALL_SCOPES));
        let own = auth.sign(&auth.claims(&["s1"], "fenliu:read"));

        let state = get(console, "/shops/s1/state", Some(&other)).await;
        assert_eq!(state.status, 403);
        assert_eq!(state.json()["code"], "PERMISSION_DENIED");
        let bearer = format!("Bearer {other}");
        let (status, _) =
            EventStream::open(console, "/shops/s1/events", &[("Authorization", &bearer)]).await;
        assert_eq!(status, 403);
        let action = post(
            console,
            "/shops/s1/actions/account-status",
            r#"{"account_id":"a1","status":"ONLINE"}"#,
            Some(&other),
        )
        .await;
        assert_eq!(action.status, 403);
        assert_eq!(
            get(console, "/shops/s1/state", None).await.status,
            401,
            "no token"
        );
        // Read-only on its own shop: it sees, and may not act.
        assert_eq!(
            get(console, "/shops/s1/state", Some(&own)).await.status,
            200
        );
        let read_only = post(
            console,
            "/shops/s1/actions/account-status",
            r#"{"account_id":"a1","status":"ONLINE"}"#,
            Some(&own),
        )
        .await;
        assert_eq!(read_only.status, 403);
        assert!(
            read_only.json()["message"]
                .as_str()
                .unwrap()
                .contains("fenliu:route")
        );
        assert_eq!(
            comparable(shop_state(&mut client, "s1").await),
            before,
            "nothing changed"
        );
        node.stop().await;
    })
    .await;
}
