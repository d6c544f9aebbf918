//! R16 manual assignment and transfer, R17 pulling, R18 message pool, R19 permissions.

use super::*;

fn staffed_shop() -> Fixture {
    let mut shop = Fixture::kuaishou();
    shop.cs("a", 1).cs("b", 1).online(&["a", "b"]);
    shop.account("admin", Fixture::config(&[Role::Admin], None));
    shop.account("csadmin", Fixture::config(&[Role::CsAdmin], None));
    shop.account("ops", Fixture::config(&[Role::Operations], None));
    shop
}

fn transfer(
    shop: &mut Fixture,
    session: SessionId,
    actor: &str,
    to: &str,
) -> Result<Session, EngineError> {
    let result = shop
        .state
        .transfer(session, &id(actor), &id(to), shop.now)
        .cloned();
    shop.state.check_invariants().unwrap();
    result
}

#[test]
fn r16_managers_transfer_to_a_full_account() {
    for manager in [MAIN, "admin", "csadmin"] {
        let mut shop = staffed_shop();
        let on_a = shop.route("b1");
        shop.route("b2");
        assert_eq!(shop.occupancy("b"), 1);
        let moved = transfer(&mut shop, on_a.session.id, manager, "b").unwrap();
        assert_eq!(moved.account, Some(id("b")));
        assert_eq!((shop.occupancy("a"), shop.occupancy("b")), (0, 2));
    }
}

#[test]
fn r16_the_holder_may_transfer_its_own_session() {
    let mut shop = staffed_shop();
    let on_a = shop.route("b1");
    let moved = transfer(&mut shop, on_a.session.id, "a", "b").unwrap();
    assert_eq!(moved.account, Some(id("b")));
    let events = shop.state.take_events();
    assert!(events.iter().any(|e| matches!(
        &e.event,
        ShopEvent::SessionAssigned { cause: AssignCause::Transfer { from }, .. } if from.as_str() == "a"
    )));
}

#[test]
fn r16_the_buyers_affinity_follows_the_session() {
    let mut shop = staffed_shop();
    let on_a = shop.route("buyer");
    transfer(&mut shop, on_a.session.id, "admin", "b").unwrap();
    shop.end(on_a.session.id);
    assert_assigned(&shop.route("buyer"), "b", RouteReason::Affinity);
}

#[test]
fn r16_a_manager_assigns_a_queued_session_to_a_non_routing_account() {
    let mut shop = staffed_shop();
    let mut config = Fixture::config(&[Role::CustomerService], Some(1));
    config.non_routing = true;
    shop.account("quiet", config);
    shop.route("b1");
    shop.route("b2");
    let waiting = shop.route("b3");
    let assigned = transfer(&mut shop, waiting.session.id, "csadmin", "quiet").unwrap();
    assert_eq!(assigned.account, Some(id("quiet")));
    assert!(shop.queue(QueueName::Shop).is_empty());
}

#[test]
fn r16_a_transfer_frees_a_slot_and_the_queue_drains_into_it() {
    let mut shop = staffed_shop();
    let on_a = shop.route("b1");
    shop.route("b2");
    let waiting = shop.route("b3");
    transfer(&mut shop, on_a.session.id, "admin", "ops").unwrap();
    assert_eq!(shop.session(waiting.session.id).account, Some(id("a")));
}

#[test]
fn r19_customer_service_cannot_transfer_someone_elses_session() {
    let mut shop = staffed_shop();
    let on_a = shop.route("b1");
    for actor in ["b", "ops"] {
        let error = transfer(&mut shop, on_a.session.id, actor, "b").unwrap_err();
        assert!(matches!(
            error,
            EngineError::PermissionDenied {
                field: "actor_account_id",
                ..
            }
        ));
    }
    assert_eq!(shop.session(on_a.session.id).account, Some(id("a")));
    assert_eq!((shop.occupancy("a"), shop.occupancy("b")), (1, 0));
}

#[test]
fn r19_ending_someone_elses_session_is_refused() {
    let mut shop = staffed_shop();
    let on_a = shop.route("b1");
    let error = shop
        .state
        .end_session(on_a.session.id, Some(&id("b")), shop.now)
        .unwrap_err();
    assert!(matches!(error, EngineError::PermissionDenied { .. }));
    assert_eq!(shop.session(on_a.session.id).state, SessionState::Assigned);
    shop.state
        .end_session(on_a.session.id, Some(&id("a")), shop.now)
        .unwrap();
    assert_eq!(shop.session(on_a.session.id).state, SessionState::Ended);
}

#[test]
fn r19_unknown_accounts_and_sessions_are_not_found() {
    let mut shop = staffed_shop();
    let on_a = shop.route("b1");
    let error = transfer(&mut shop, on_a.session.id, "ghost", "b").unwrap_err();
    assert_eq!(error.field(), "actor_account_id");
    let error = transfer(&mut shop, on_a.session.id, "admin", "ghost").unwrap_err();
    assert_eq!(error.field(), "to_account_id");
    let error = transfer(&mut shop, SessionId(999), "admin", "b").unwrap_err();
    assert!(matches!(
        error,
        EngineError::NotFound {
            field: "session_id",
            ..
        }
    ));
}

#[test]
fn r17_any_account_pulls_the_oldest_session_of_a_queue_it_names() {
    let mut shop = staffed_shop();
    let mut config = Fixture::config(&[Role::CustomerService], Some(1));
    config.non_routing = true;
    shop.account("quiet", config);
    shop.route("b1");
    shop.route("b2");
    let oldest = shop.route("b3");
    let younger = shop.route("b4");
    let pulled = shop
        .state
        .pull_queued(&id("quiet"), QueueName::Shop, shop.now)
        .unwrap()
        .clone();
    assert_eq!(pulled.id, oldest.session.id);
    assert_eq!(pulled.account, Some(id("quiet")));
    // Pulling is a deliberate act: it works beyond the puller's capacity.
    let again = shop
        .state
        .pull_queued(&id("quiet"), QueueName::Shop, shop.now)
        .unwrap()
        .clone();
    assert_eq!(again.id, younger.session.id);
    assert_eq!(shop.occupancy("quiet"), 2);
    shop.state.check_invariants().unwrap();
}

#[test]
fn r17_pulling_from_an_empty_queue_is_refused() {
    let mut shop = staffed_shop();
    let error = shop
        .state
        .pull_queued(
            &id("a"),
            QueueName::Status(OrderStatus::AfterSales),
            shop.now,
        )
        .unwrap_err();
    assert!(matches!(
        error,
        EngineError::FailedPrecondition { field: "queue", .. }
    ));
}

fn pooled_shop() -> (Fixture, SessionId) {
    let mut shop = staffed_shop();
    shop.status("a", AccountStatus::Offline)
        .status("b", AccountStatus::Offline);
    let mut config = Fixture::config(&[Role::CustomerService], Some(1));
    config.pool_permission = true;
    shop.account("pooler", config);
    shop.settings(SettingsPatch {
        bot_enabled: Some(true),
        ..Default::default()
    });
    let pooled = shop.route("buyer");
    assert_eq!(pooled.session.state, SessionState::Pooled);
    (shop, pooled.session.id)
}

#[test]
fn r18_pool_sessions_leave_only_by_the_main_account_or_pool_permission() {
    for allowed in [MAIN, "pooler"] {
        let (mut shop, pooled) = pooled_shop();
        let assigned = transfer(&mut shop, pooled, allowed, "a").unwrap();
        assert_eq!(assigned.account, Some(id("a")));
        assert!(shop.state.pool().is_empty());
    }
}

#[test]
fn r18_admins_without_pool_permission_cannot_empty_the_pool() {
    let (mut shop, pooled) = pooled_shop();
    for actor in ["admin", "csadmin", "a"] {
        let error = transfer(&mut shop, pooled, actor, "a").unwrap_err();
        assert!(
            matches!(error, EngineError::PermissionDenied { .. }),
            "{actor}"
        );
    }
    assert_eq!(shop.state.pool().len(), 1);
}

#[test]
fn r18_r16_manual_assignment_out_of_the_pool_is_reported_as_manual() {
    let (mut shop, pooled) = pooled_shop();
    shop.state.take_events();
    transfer(&mut shop, pooled, MAIN, "b").unwrap();
    let events = shop.state.take_events();
    assert!(matches!(
        &events[0].event,
        ShopEvent::SessionAssigned {
            cause: AssignCause::Manual { from_queue: None },
            ..
        }
    ));
}
