//! The deployment's Redis read directly, one command at a time: a shop's keys
//! and their TTLs, and the workers' membership keys.

use super::Node;

/// One command to the Redis on `127.0.0.1:port`, run off the async threads
/// (the testkit client is blocking). Never call it while that Redis is paused.
pub async fn redis_cmd(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fenliu_testkit::resp::command(port, &refs)
    })
    .await
    .expect("join redis command")
}

/// Every worker's membership key is back.
pub async fn assert_registered_again(port: u16, ns: &str, workers: &[Node]) {
    for worker in workers {
        let member = redis_cmd(
            port,
            &["EXISTS", &format!("{ns}:{{meta}}:member:{}", worker.id)],
        )
        .await
        .unwrap();
        assert_eq!(member, "1", "{} did not re-register", worker.id);
    }
}

/// A shop's keys in Redis, read directly.
#[derive(Debug)]
pub struct ShopKeys {
    port: u16,
    pub shop: String,
    prefix: String,
}

impl ShopKeys {
    pub fn new(port: u16, ns: &str, shop: &str) -> Self {
        ShopKeys {
            port,
            shop: shop.to_owned(),
            prefix: format!("{ns}:{{{shop}}}:"),
        }
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub async fn pttl(&self, key: &str) -> i64 {
        redis_cmd(self.port, &["PTTL", key])
            .await
            .unwrap()
            .parse::<i64>()
            .unwrap()
    }

    pub async fn exists(&self, key: &str) -> String {
        redis_cmd(self.port, &["EXISTS", key]).await.unwrap()
    }

    pub async fn hexists(&self, key: &str, field: &str) -> String {
        redis_cmd(self.port, &["HEXISTS", key, field])
            .await
            .unwrap()
    }
}
