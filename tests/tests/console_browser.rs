//! The shop console in a real browser: headless chromium driven through
//! chromedriver (WebDriver) against a real dispatcher and worker on Redis. Every
//! change made through the gRPC API shows on the page within a second, a transfer
//! made on the page is read back through the API, and with authentication on a
//! token for another shop sees nothing and can do nothing.
//!
//! Skipped, loudly, when chromium or chromedriver is missing, unless
//! `FENLIU_REQUIRE_BROWSER` is set (`scripts/test` sets it). With
//! `FENLIU_UPDATE_SCREENSHOT=1` the test writes the README's screenshot,
//! `docs/console.png`.

use std::sync::Arc;
use std::time::Duration;

use fenliu_tests::webdriver::Browser;
use fenliu_tests::*;
use serde_json::json;

/// How soon the page must show a change made through the API.
const SHOWN_WITHIN: Duration = Duration::from_secs(1);
/// The whole browser test.
const BROWSER_TEST_LIMIT: Duration = Duration::from_secs(60);

fn account_shows(account: &str, part: &str, text: &str) -> String {
    format!(
        "const cell = document.querySelector('[data-account=\"{account}\"] {part}'); \
         return !!cell && cell.textContent.includes('{text}');"
    )
}

fn session_under(account: &str, session_id: u64) -> String {
    format!(
        "return !!document.querySelector('[data-account=\"{account}\"] [data-session=\"{session_id}\"]');"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_api_changes_within_a_second_and_transfers_through_the_api() {
    bounded_by(BROWSER_TEST_LIMIT, async {
        let Some(browser) = Browser::start(1400, 1250).await else {
            return;
        };
        let settings = NodeSettings {
            console: true,
            ..NodeSettings::default()
        };
        let node = TestNode::start_on_redis_with(1, settings).await;
        let mut client = node.client().await;
        ShopBuilder::taobao("s1")
            .with_roles(MAIN, &[pb::Role::Main])
            .cs("a1", 1)
            .cs("a2", 2)
            .close_delay(0)
            .offline_policy(pb::OfflinePolicy::Queue)
            .create(&mut client)
            .await;
        let url = format!("http://{}/shops/s1", node.console_address());
        browser.open(&url).await;
        browser
            .wait_until("a1 offline", Duration::from_secs(10), &account_shows("a1", ".status", "Offline"))
            .await;
        browser
            .wait_until("the stream live", SHOWN_WITHIN, "return document.getElementById('live').textContent.includes('Live');")
            .await;

        set_status(&mut client, "s1", "a1", pb::AccountStatus::Online).await;
        browser
            .wait_until("a1 online", SHOWN_WITHIN, &account_shows("a1", ".status", "● Online"))
            .await;

        let first = route_new(&mut client, "s1", "b1").await;
        assert_eq!(first.account(), "a1");
        browser
            .wait_until("a1 full", SHOWN_WITHIN, &account_shows("a1", ".occupancy-text", "1 / 1"))
            .await;
        browser
            .wait_until("b1's session under a1", SHOWN_WITHIN, &session_under("a1", first.id()))
            .await;

        let queued = route_new(&mut client, "s1", "b2").await;
        assert_eq!(queued.state(), pb::SessionState::Queued);
        let waiting = format!(
            "const row = document.querySelector('[data-queue=\"shop\"] [data-session-row=\"{}\"]'); \
             return !!row && row.querySelector('.position').textContent === '#1' \
                 && row.querySelector('.estimate').textContent.startsWith('estimate ') \
                 && row.querySelector('.waited').textContent.startsWith('waiting ');",
            queued.id()
        );
        browser.wait_until("b2 first in the queue", SHOWN_WITHIN, &waiting).await;

        end_session(&mut client, "s1", first.id()).await;
        browser
            .wait_until("b2 taken from the queue by a1", SHOWN_WITHIN, &session_under("a1", queued.id()))
            .await;
        browser
            .wait_until("the queue empty", SHOWN_WITHIN, "return document.getElementById('queues').textContent.includes('Nobody is waiting');")
            .await;
        browser
            .wait_until("R14 in the feed", SHOWN_WITHIN, "return [...document.querySelectorAll('#feed .rule')].some(r => r.textContent === 'R14');")
            .await;

        set_status(&mut client, "s1", "a2", pb::AccountStatus::Online).await;
        browser
            .wait_until("a2 online", SHOWN_WITHIN, &account_shows("a2", ".status", "● Online"))
            .await;

        // The transfer, made on the page: the session, then its detail's form.
        browser
            .click(&format!("[data-account=\"a1\"] [data-session=\"{}\"]", queued.id()))
            .await;
        browser
            .wait_until("the session's explanation", Duration::from_secs(2), "return !!document.getElementById('transfer-button');")
            .await;
        browser.click("[data-keep=\"transfer-to\"] option[value=\"a2\"]").await;
        browser.click("#transfer-button").await;
        browser
            .wait_until("the transfer done", Duration::from_secs(2), "return document.getElementById('outcome').textContent.includes('now with a2');")
            .await;
        let moved = get_session(&mut client, "s1", queued.id()).await;
        assert_eq!(moved.account_id, "a2", "the transfer made on the page, read through the API");
        browser
            .wait_until("b2 under a2", SHOWN_WITHIN, &session_under("a2", queued.id()))
            .await;

        // A laptop's width and a large monitor's: the page fits, nothing is
        // cut off sideways, and the text stays at 16 px.
        for (width, height) in [(1280, 800), (2560, 1440)] {
            browser.resize(width, height).await;
            let fits = "return document.documentElement.scrollWidth <= window.innerWidth \
                 && parseFloat(getComputedStyle(document.body).fontSize) >= 16;";
            browser.wait_until(&format!("the page fitting {width} px"), SHOWN_WITHIN, fits).await;
        }
        browser.resize(1400, 1250).await;

        if std::env::var_os("FENLIU_UPDATE_SCREENSHOT").is_some() {
            write_screenshot(&browser, &mut client, queued.id()).await;
        }
        drop(browser);
        node.stop().await;
    })
    .await;
}

/// A busier shop (a queue, a message, an explanation open), photographed for
/// the README.
async fn write_screenshot(browser: &Browser, client: &mut Client, transferred: u64) {
    let third = route_new(client, "s1", "b3").await;
    for buyer in ["b4", "b5", "b6"] {
        route_new(client, "s1", buyer).await;
    }
    // a2 is full: a transfer to it takes it over its capacity (R25 marks it,
    // R16 allowed it), and b5 takes the slot it frees on a1.
    try_transfer(client, "s1", third.id(), MAIN, "a2")
        .await
        .expect("a transfer beyond capacity");
    let last = route_new(client, "s1", "b7").await;
    assert_eq!(last.state(), pb::SessionState::Queued);
    browser
        .click(&format!(
            "[data-account=\"a2\"] [data-session=\"{transferred}\"]"
        ))
        .await;
    browser
        .wait_until(
            "two waiting",
            Duration::from_secs(2),
            "return document.querySelectorAll('[data-session-row]').length === 2;",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, png).unwrap();
    eprintln!("wrote {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_with_a_token_for_another_shop_shows_nothing_and_does_nothing() {
    bounded_by(BROWSER_TEST_LIMIT, async {
        let Some(browser) = Browser::start(1280, 900).await else {
            return;
        };
        let auth = Arc::new(TestAuth::new());
        let settings = NodeSettings {
            console: true,
            ..NodeSettings::with_auth(auth.clone())
        };
        let node = TestNode::start_with(settings).await;
        let mut client = node.client().await;
        ShopBuilder::taobao("s1").cs("a1", 1).create(&mut client).await;
        let before = comparable(shop_state(&mut client, "s1").await);
        browser
            .open(&format!("http://{}/shops/s1", node.console_address()))
            .await;
        browser
            .wait_until("the token asked for", Duration::from_secs(10), "return !document.getElementById('token-form').hidden;")
            .await;

        // Its own shop's token: the page shows the shop.
        let own = auth.sign(&auth.claims(&["s1"], ALL_SCOPES));
        browser.type_into("#token-input", &own).await;
        browser.click("#token-save").await;
        browser
            .wait_until("the shop with its own token", Duration::from_secs(2), &account_shows("a1", ".status", "Offline"))
            .await;

        // Another shop's token: everything of s1 goes, and actions are refused.
        let other = auth.sign(&auth.claims(&["s2"], ALL_SCOPES));
        browser.click("#token-button").await;
        browser.type_into("#token-input", &other).await;
        browser.click("#token-save").await;
        browser
            .wait_until("the refusal", Duration::from_secs(2), "return document.getElementById('refusal').textContent.includes('PERMISSION_DENIED');")
            .await;
        let shown = browser
            .run("return document.querySelectorAll('[data-account]').length + document.querySelectorAll('#feed li').length;", json!([]))
            .await;
        assert_eq!(shown, 0, "nothing of s1 shows");
        let action = browser
            .run_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/shops/s1/actions/account-status', {method: 'POST',
                   headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + sessionStorage.getItem('fenliu-console-token')},
                   body: JSON.stringify({account_id: 'a1', status: 'ONLINE'})})
                 .then(r => r.json().then(body => done({status: r.status, code: body.code})));",
                json!([]),
            )
            .await;
        assert_eq!(action, json!({"status": 403, "code": "PERMISSION_DENIED"}));
        assert_eq!(comparable(shop_state(&mut client, "s1").await), before, "nothing changed");
        drop(browser);
        node.stop().await;
    })
    .await;
}
