//! Free TCP ports on 127.0.0.1 for servers started by tests.
//!
//! A port is found by binding `127.0.0.1:0`, reading the port the kernel chose
//! and dropping the listener. Another process may grab it before our server
//! binds it, so callers that start servers retry on "address in use"
//! ([`crate::redis::RedisServer`] does). Within this process a port is never
//! handed out twice, which rules out collisions between tests running in
//! parallel threads of one test binary.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

/// Offset between a Redis Cluster node's client port and its cluster bus port
/// (the bus listens on `port + 10000` unless `cluster-port` says otherwise).
pub const CLUSTER_BUS_OFFSET: u16 = 10000;

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn ask_kernel() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago and that this
/// process has not handed out before.
///
/// # Panics
/// If the loopback interface cannot be bound or no fresh port turns up after
/// many attempts (a broken test environment).
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = ask_kernel();
        let mut set = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if set.insert(port) {
            return port;
        }
    }
    panic!("no fresh free port on 127.0.0.1 after 1000 attempts");
}

/// Returns a port for a Redis Cluster node: `port` and its bus port
/// `port + 10000` are both free on 127.0.0.1 (and so `port < 55536`), and
/// neither has been handed out by this process before. Both are reserved
/// against later [`free_port`] / [`free_cluster_port`] calls in this process.
///
/// # Panics
/// As [`free_port`].
pub fn free_cluster_port() -> u16 {
    for _ in 0..1000 {
        let port = ask_kernel();
        let Some(bus) = port.checked_add(CLUSTER_BUS_OFFSET) else {
            continue;
        };
        let mut set = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if set.contains(&port) || set.contains(&bus) || !bindable(bus) {
            continue;
        }
        set.insert(port);
        set.insert(bus);
        return port;
    }
    panic!("no free port pair (p, p+10000) on 127.0.0.1 after 1000 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        assert!(bindable(a) && bindable(b));
    }

    #[test]
    fn cluster_port_leaves_room_for_the_bus() {
        let p = free_cluster_port();
        assert!(u32::from(p) + u32::from(CLUSTER_BUS_OFFSET) < 65536);
        assert!(bindable(p) && bindable(p + CLUSTER_BUS_OFFSET));
    }
}
