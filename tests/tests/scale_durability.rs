//! What a failover loses, with and without `--redis-min-replicas 1`, made
//! deterministic: a master's replica falls behind (it saves a snapshot and is
//! killed, as a replica cut off from its master would be), the master keeps
//! serving its shops, then the master dies and the stale replica takes over
//! (`CLUSTER FAILOVER TAKEOVER`, from the snapshot). Workers are then restarted
//! fresh, so that what the audit reads is what Redis kept.
//!
//! Without `WAIT` every decision acknowledged in that window is gone; with it,
//! none was acknowledged (each failed `UNAVAILABLE`, the replica not
//! confirming it), and the shops serve again once the replica took over. The
//! README's durability table cites this test.

use std::collections::BTreeMap;
use std::time::Duration;

use fenliu_tests::scale::ScaleDeployment;
use fenliu_tests::scale::audit::audit;
use fenliu_tests::scale::load::Acknowledged;
use fenliu_tests::{Routed, bounded_by, connect, route_request};

/// What one run saw.
#[derive(Debug)]
struct Window {
    /// Decisions acknowledged before the replica fell behind, and lost of them.
    before: (usize, usize),
    /// Decisions acknowledged while it was behind, and lost of them.
    during: (usize, usize),
    /// Calls refused while it was behind, by code.
    refused: BTreeMap<String, usize>,
    /// Whether a shop of the failed master serves again afterwards.
    serves_again: bool,
}

/// One `Route` for a new buyer of each shop, each tried once.
async fn route_each(
    address: std::net::SocketAddr,
    shops: &[String],
    label: &str,
) -> (Vec<Acknowledged>, BTreeMap<String, usize>) {
    let mut client = connect(address).await;
    let (mut acknowledged, mut refused) = (Vec::new(), BTreeMap::new());
    for shop_id in shops {
        let buyer_id = format!("{label}-buyer");
        let request = route_request(
            shop_id,
            &buyer_id,
            fenliu_tests::pb::OrderStatus::NoActiveOrder,
        );
        let mut attempt = tonic::Request::new(request.clone());
        attempt.set_timeout(Duration::from_secs(1));
        match client.route(attempt).await {
            Ok(response) => acknowledged.push(Acknowledged {
                shop_id: shop_id.clone(),
                buyer_id,
                request_id: request.request_id,
                routed: Routed::from_response(response.into_inner()),
            }),
            Err(status) => *refused.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }
    (acknowledged, refused)
}

async fn failover_behind(min_replicas: u32) -> Window {
    let mut deployment = ScaleDeployment::start_replicated(2, 1, min_replicas).await;
    let shops = deployment.create_shops(24).await;
    // A master other than the membership's, so that the leases stay put and
    // what is lost is the shops' state alone.
    let (master, replica, on_master) = deployment.cluster_change(|c| {
        let meta = c.master_of_key("{meta}").unwrap();
        let master = *c
            .master_indices()
            .unwrap()
            .iter()
            .find(|&&m| m != meta)
            .unwrap();
        let on_master: Vec<String> = shops
            .iter()
            .filter(|shop| c.master_of_key(&format!("{{{shop}}}")).unwrap() == master)
            .cloned()
            .collect();
        (master, c.replica_of(master).unwrap(), on_master)
    });
    assert!(!on_master.is_empty(), "no shop on the chosen master");
    let address = deployment.dispatcher_addresses()[0];
    let (before, refused) = route_each(address, &on_master, "before").await;
    assert!(refused.is_empty(), "{refused:?}");

    deployment.cluster_change(|c| {
        c.wait_until_replicated(Duration::from_secs(10)).unwrap();
        c.nodes()[replica].command(&["SAVE"]).unwrap();
        c.nodes_mut()[replica].kill().unwrap();
    });
    let (during, refused) = route_each(address, &on_master, "during").await;
    deployment.cluster_change(|c| {
        c.nodes_mut()[master].kill().unwrap();
        c.nodes_mut()[replica].start_again().unwrap();
        c.take_over(replica, Duration::from_secs(30)).unwrap();
        // The old master comes back as the new one's replica (with
        // `--redis-min-replicas 1`, nothing is written until a replica is).
        c.rejoin(master, Duration::from_secs(30)).unwrap();
    });
    deployment.restart_workers().await;

    let lost_before = audit(address, &before).await.damaged;
    let lost_during = audit(address, &during).await.damaged;
    let (again, _) = fenliu_tests::bounded_by(Duration::from_secs(20), async {
        loop {
            let result = route_each(address, &on_master[..1], "after").await;
            if !result.0.is_empty() {
                break result;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    deployment.stop().await;
    Window {
        before: (before.len(), lost_before),
        during: (during.len(), lost_during),
        refused,
        serves_again: !again.is_empty(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_min_replicas_a_stale_replica_promoted_loses_what_was_acknowledged_and_with_one_nothing_acknowledged_is_lost()
 {
    bounded_by(Duration::from_secs(150), async {
        let without = failover_behind(0).await;
        eprintln!("--redis-min-replicas 0: {without:?}");
        assert_eq!(without.before.1, 0, "{without:?}");
        assert!(without.during.0 > 0, "{without:?}");
        assert_eq!(
            without.during.1, without.during.0,
            "every decision of the window is lost: {without:?}"
        );
        assert!(without.serves_again, "{without:?}");

        let with = failover_behind(1).await;
        eprintln!("--redis-min-replicas 1: {with:?}");
        assert_eq!(with.before.1, 0, "{with:?}");
        assert_eq!(
            with.during,
            (0, 0),
            "nothing acknowledged without a replica: {with:?}"
        );
        assert!(!with.refused.is_empty(), "{with:?}");
        assert!(with.serves_again, "{with:?}");
    })
    .await;
}
