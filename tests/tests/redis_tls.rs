//! fenliu's Redis connection to a TLS-only redis-server that requires client
//! certificates, as fenliu's ACL user: certificates rotated on both sides are
//! picked up without a restart (new connections use the new files); a refusal
//! at start names the Redis error and the flag, never the password; and without
//! the right CA or a client certificate there is no connection at all.

use std::time::Duration;

use fenliu_node::ClusterOptions;
use fenliu_node::redis_connection::{RedisAccess, RedisConnection, RedisFailure};
use fenliu_testkit::{ClientCerts, RedisTls, TestCa};
use fenliu_tests::*;

const CALL_TIMEOUT: Duration = Duration::from_millis(500);

async fn secured() -> SecuredRedis {
    tokio::task::spawn_blocking(|| SecuredRedis::start("fenliu"))
        .await
        .unwrap()
        .unwrap()
}

/// One round trip as fenliu makes them (a script, as its ACL user may run).
async fn ping(connection: &RedisConnection) -> Result<usize, RedisFailure> {
    let registry = fenliu_node::registry::Registry::new(connection.clone(), "fenliu");
    registry.members().await.map(|members| members.len())
}

fn options(url: String, access: &RedisAccess) -> ClusterOptions {
    ClusterOptions {
        redis_url: vec![url],
        redis_password_file: access.password_file.clone(),
        redis_ca: access.ca_file.clone(),
        redis_client_cert: access.client_cert_file.clone(),
        redis_client_key: access.client_key_file.clone(),
        redis_namespace: "fenliu".to_owned(),
        redis_timeout_ms: 500,
        shards: 64,
    }
}

#[tokio::test]
async fn certificates_rotated_on_both_sides_are_used_by_new_connections() {
    bounded(async {
        let redis = secured().await;
        let connection =
            RedisConnection::connect_with(&[redis.url()], redis.files.access(), CALL_TIMEOUT)
                .await
                .unwrap();
        assert_eq!(ping(&connection).await.unwrap(), 0);

        // Redis moves to a new CA and drops every connection of fenliu's.
        let next = TestCa::new("next Redis CA").unwrap();
        redis
            .server
            .rotate_tls(&RedisTls::issued_by(&next, ClientCerts::Required).unwrap())
            .unwrap();
        redis.disconnect_fenliu().unwrap();
        let refused = wait_for("fenliu to fail to reconnect with the old CA", || {
            let connection = connection.clone();
            async move { ping(&connection).await.err() }
        })
        .await;
        assert!(
            matches!(refused, RedisFailure::Unavailable(_)),
            "{refused:?}"
        );

        // fenliu's CA bundle and client certificate are rotated in place.
        redis.files.rotate_to(&next).unwrap();
        wait_for("fenliu to connect with the new files", || {
            let connection = connection.clone();
            async move { ping(&connection).await.ok() }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_password_at_start_names_wrongpass_and_the_flag_never_the_password() {
    bounded(async {
        let redis = secured().await;
        let access = redis.files.access();
        // A password in the URL is overridden by the file's: a wrong file wins.
        redis.files.write_password("not-the-password-1").unwrap();
        let url = format!(
            "rediss://fenliu:fenliu-first-password@127.0.0.1:{}/",
            redis.server.port()
        );
        let refused = format!("{:#}", options(url, &access).connect().await.unwrap_err());
        assert!(refused.contains("WRONGPASS"), "{refused}");
        assert!(
            refused.contains("--redis-url rediss://fenliu:***@127.0.0.1:"),
            "{refused}"
        );
        for secret in ["not-the-password-1", "fenliu-first-password"] {
            assert!(!refused.contains(secret), "{refused}");
        }

        // The right password in the file connects, whatever the URL says.
        redis.files.write_password("fenliu-first-password").unwrap();
        let url = format!("rediss://fenliu:stale@127.0.0.1:{}/", redis.server.port());
        let connection = options(url, &access).connect().await.unwrap();
        assert_eq!(ping(&connection).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn without_the_redis_ca_or_a_client_certificate_there_is_no_connection() {
    // Each refused start retries its connection a few times (about 3 s).
    bounded_by(Duration::from_secs(60), async {
        let redis = secured().await;
        let access = redis.files.access();
        let other = TestCa::new("another CA").unwrap();
        let without = |change: &dyn Fn(&mut RedisAccess)| {
            let mut access = access.clone();
            change(&mut access);
            access
        };
        for (what, access) in [
            // The system's roots do not know a private CA.
            ("no --redis-ca", without(&|a| a.ca_file = None)),
            (
                "another CA",
                without(&|a| a.ca_file = Some(other.ca_file())),
            ),
            (
                "no client certificate",
                without(&|a| {
                    a.client_cert_file = None;
                    a.client_key_file = None;
                }),
            ),
        ] {
            let refused = RedisConnection::connect_with(&[redis.url()], access, CALL_TIMEOUT)
                .await
                .expect_err(what);
            assert!(
                matches!(refused, RedisFailure::Unavailable(_)),
                "{what}: {refused:?}"
            );
        }
    })
    .await;
}
