//! The nemesis: faults on a schedule drawn from the run's seed, each undone
//! before the next: SIGKILL and restart of a worker, SIGSTOP of a
//! worker past its lease then SIGCONT, SIGKILL and restart of a dispatcher,
//! latency, resets and blackholes on the fault proxies (dispatchers → a worker,
//! a worker → Redis), SIGKILL of Redis and its restart from its append-only file,
//! and a rolling restart of every worker (SIGTERM, start as the next release:
//! a version bump, so the fleet is upgraded under load; wait for its leases).
//!
//! The first round plays every kind (each proxy mode on each path) in a seeded
//! order, one at a time, so even a short run injects each; then kinds are drawn
//! at random until the chaos time is up, a third of the time two at once (say,
//! a worker cut from Redis while another is killed). Each fault is recorded
//! with when it began and ended.

use std::time::Duration;

use fenliu_testkit::FaultMode;
use tokio::time::Instant;

use crate::deployment::{Deployment, LEASE_TTL};
use crate::rng::Rng;

/// A fault and its parameters.
#[derive(Clone, Debug)]
pub enum Fault {
    KillWorker {
        worker: usize,
        down: Duration,
    },
    PauseWorker {
        worker: usize,
        frozen: Duration,
    },
    KillDispatcher {
        dispatcher: usize,
        down: Duration,
    },
    /// A proxy mode between the dispatchers and a worker.
    FrontProxy {
        worker: usize,
        mode: FaultMode,
        lasting: Duration,
    },
    /// A proxy mode between a worker and Redis.
    RedisProxy {
        worker: usize,
        mode: FaultMode,
        lasting: Duration,
    },
    KillRedis {
        down: Duration,
    },
    /// Each worker in turn: SIGTERM, `down` (its pod being replaced), start.
    RollingRestart {
        down: Duration,
    },
}

impl Fault {
    /// The kind's name, for the report.
    pub fn kind(&self) -> String {
        let mode = |mode: &FaultMode| match mode {
            FaultMode::Pass => "pass",
            FaultMode::Latency { .. } => "latency",
            FaultMode::Reset => "reset",
            FaultMode::Blackhole => "blackhole",
        };
        match self {
            Fault::KillWorker { .. } => "SIGKILL worker".to_owned(),
            Fault::PauseWorker { .. } => "SIGSTOP worker past its lease".to_owned(),
            Fault::KillDispatcher { .. } => "SIGKILL dispatcher".to_owned(),
            Fault::FrontProxy { mode: m, .. } => format!("dispatcher→worker {}", mode(m)),
            Fault::RedisProxy { mode: m, .. } => format!("worker→Redis {}", mode(m)),
            Fault::KillRedis { .. } => "SIGKILL Redis, restart from AOF".to_owned(),
            Fault::RollingRestart { .. } => {
                "rolling restart of every worker, upgrading it (version bump)".to_owned()
            }
        }
    }

    /// How long it is expected to last (a rolling restart: a few seconds per
    /// worker).
    fn nominal(&self, workers: usize) -> Duration {
        match self {
            Fault::KillWorker { down, .. } | Fault::KillDispatcher { down, .. } => *down,
            Fault::KillRedis { down } => *down,
            Fault::PauseWorker { frozen, .. } => *frozen,
            Fault::FrontProxy { lasting, .. } | Fault::RedisProxy { lasting, .. } => *lasting,
            Fault::RollingRestart { down } => (*down + Duration::from_secs(2)) * workers as u32,
        }
    }

    /// Whether it explains a move of a shard between workers `from` and `to`
    /// (indices): a fault on one worker moves shards only off it and back to
    /// it (rendezvous hashing sends the others' shards nowhere); a Redis crash
    /// or a rolling restart may move any.
    pub fn explains_move(&self, from: usize, to: usize) -> bool {
        match self {
            Fault::KillWorker { worker, .. }
            | Fault::PauseWorker { worker, .. }
            | Fault::RedisProxy { worker, .. } => *worker == from || *worker == to,
            Fault::KillRedis { .. } | Fault::RollingRestart { .. } => true,
            Fault::KillDispatcher { .. } | Fault::FrontProxy { .. } => false,
        }
    }
}

/// A fault as it happened, from the run's start.
#[derive(Clone, Debug)]
pub struct FaultRecord {
    pub fault: Fault,
    pub began: Duration,
    pub ended: Duration,
    /// Anything that went wrong injecting or undoing it.
    pub trouble: Option<String>,
}

/// The faults to inject, in order, each with the quiet time before it.
#[derive(Debug)]
pub struct Schedule {
    rng: Rng,
    /// The first round (every kind), then drawn at random.
    first_round: Vec<Fault>,
    workers: usize,
    dispatchers: usize,
}

impl Schedule {
    pub fn new(seed: u64, workers: usize, dispatchers: usize) -> Schedule {
        let mut rng = Rng::fork(seed, 0xFA17);
        let mut first_round = Vec::new();
        for kind in 0..KINDS {
            first_round.extend(draw(&mut rng, kind, workers, dispatchers));
        }
        for i in (1..first_round.len()).rev() {
            first_round.swap(i, rng.below(i as u64 + 1) as usize);
        }
        first_round.reverse();
        Schedule {
            rng,
            first_round,
            workers,
            dispatchers,
        }
    }

    /// The quiet time before the next faults, and the faults: one, or after
    /// the first round sometimes two at once (never a rolling restart with
    /// another).
    fn next(&mut self) -> (Duration, Vec<Fault>) {
        let quiet = Duration::from_millis(self.rng.between(1000, 2500));
        if let Some(fault) = self.first_round.pop() {
            return (quiet, vec![fault]);
        }
        let mut faults = vec![self.random()];
        if self.rng.chance(PAIRED_PERCENT) {
            let second = self.random();
            let restart = |f: &Fault| matches!(f, Fault::RollingRestart { .. });
            if !restart(&faults[0]) && !restart(&second) {
                faults.push(second);
            }
        }
        (quiet, faults)
    }

    fn random(&mut self) -> Fault {
        let kind = self.rng.below(KINDS);
        let mut faults = draw(&mut self.rng, kind, self.workers, self.dispatchers);
        faults.swap_remove(self.rng.below(faults.len() as u64) as usize)
    }
}

/// How often (in percent), after the first round, two faults overlap.
const PAIRED_PERCENT: u64 = 35;

/// How many kinds [`draw`] knows.
const KINDS: u64 = 7;

/// The faults of kind `kind` (each proxy kind: one per mode), with parameters
/// drawn from `rng`.
fn draw(rng: &mut Rng, kind: u64, workers: usize, dispatchers: usize) -> Vec<Fault> {
    let worker = rng.below(workers as u64) as usize;
    let ms = |rng: &mut Rng, low, high| Duration::from_millis(rng.between(low, high));
    let modes = |rng: &mut Rng| {
        let latency = FaultMode::Latency {
            per_chunk: ms(rng, 20, 250),
            on_connect: ms(rng, 0, 300),
        };
        [latency, FaultMode::Reset, FaultMode::Blackhole]
    };
    // One fault per proxy mode, each on a worker and for a time of its own.
    let on_proxies = |rng: &mut Rng, fault: fn(usize, FaultMode, Duration) -> Fault| {
        modes(rng)
            .into_iter()
            .map(|mode| {
                let worker = rng.below(workers as u64) as usize;
                fault(worker, mode, ms(rng, 1000, 4000))
            })
            .collect()
    };
    match kind {
        0 => vec![Fault::KillWorker {
            worker,
            down: ms(rng, 500, 4000),
        }],
        1 => vec![Fault::PauseWorker {
            worker,
            frozen: LEASE_TTL * 2 + ms(rng, 0, 2000),
        }],
        2 => vec![Fault::KillDispatcher {
            dispatcher: rng.below(dispatchers as u64) as usize,
            down: ms(rng, 500, 3000),
        }],
        3 => on_proxies(rng, |worker, mode, lasting| Fault::FrontProxy {
            worker,
            mode,
            lasting,
        }),
        4 => on_proxies(rng, |worker, mode, lasting| Fault::RedisProxy {
            worker,
            mode,
            lasting,
        }),
        5 => vec![Fault::KillRedis {
            down: ms(rng, 300, 2000),
        }],
        _ => vec![Fault::RollingRestart {
            down: ms(rng, 0, 2000),
        }],
    }
}

/// Injects faults from `schedule` until `until` (from the run's start, counted
/// from `started`); each fault (or overlapping pair) is undone before the next,
/// and none starts that would not be over by then. Returns what was injected.
pub async fn run(
    deployment: &mut Deployment,
    mut schedule: Schedule,
    started: Instant,
    until: Duration,
) -> Vec<FaultRecord> {
    let mut records = Vec::new();
    loop {
        let (quiet, faults) = schedule.next();
        let workers = deployment.workers.len();
        let longest = faults.iter().map(|f| f.nominal(workers)).max();
        if started.elapsed() + quiet + longest.unwrap_or_default() > until {
            break;
        }
        tokio::time::sleep(quiet).await;
        if let [Fault::RollingRestart { down }] = faults.as_slice() {
            let began = started.elapsed();
            let trouble = rolling_restart(deployment, *down).await.err();
            records.push(FaultRecord {
                fault: faults[0].clone(),
                began,
                ended: started.elapsed(),
                trouble: trouble.map(|e| format!("{e:#}")),
            });
            continue;
        }
        records.extend(overlapping(deployment, faults, started).await);
    }
    records
}

/// Begins every fault at once, and undoes each when its time is up.
async fn overlapping(
    deployment: &mut Deployment,
    faults: Vec<Fault>,
    started: Instant,
) -> Vec<FaultRecord> {
    let mut records: Vec<FaultRecord> = Vec::new();
    for fault in &faults {
        let began = started.elapsed();
        let trouble = begin(deployment, fault).err().map(|e| format!("{e:#}"));
        records.push(FaultRecord {
            fault: fault.clone(),
            began,
            ended: began,
            trouble,
        });
    }
    let workers = deployment.workers.len();
    let mut order: Vec<usize> = (0..faults.len()).collect();
    order.sort_by_key(|i| faults[*i].nominal(workers));
    for i in order {
        let due = records[i].began + faults[i].nominal(workers);
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
        if let Err(error) = undo(deployment, &faults[i]) {
            let trouble = records[i].trouble.get_or_insert_with(String::new);
            trouble.push_str(&format!(" undoing: {error:#}"));
        }
        records[i].ended = started.elapsed();
    }
    records
}

/// Injects a fault (all but the rolling restart, which is a sequence).
fn begin(deployment: &mut Deployment, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::KillWorker { worker, .. } => deployment.kill_worker(*worker),
        Fault::PauseWorker { worker, .. } => deployment.pause_worker(*worker),
        Fault::KillDispatcher { dispatcher, .. } => deployment.kill_dispatcher(*dispatcher),
        Fault::FrontProxy { worker, mode, .. } => {
            deployment.workers[*worker].front.set_mode(*mode);
            Ok(())
        }
        Fault::RedisProxy { worker, mode, .. } => {
            deployment.workers[*worker].redis_link.set_mode(*mode);
            Ok(())
        }
        Fault::KillRedis { .. } => deployment.kill_redis(),
        Fault::RollingRestart { .. } => Ok(()),
    }
}

/// Undoes a fault begun by [`begin`]: a killed process is started again (if
/// another fault of the pair has not already), a frozen one resumed, a proxy
/// passes again.
fn undo(deployment: &mut Deployment, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::KillWorker { worker, .. } => {
            if deployment.workers[*worker].process.is_none() {
                deployment.start_worker(*worker)?;
            }
            Ok(())
        }
        Fault::PauseWorker { worker, .. } => deployment.resume_worker(*worker),
        Fault::KillDispatcher { dispatcher, .. } => {
            if deployment.dispatchers[*dispatcher].process.is_none() {
                deployment.start_dispatcher(*dispatcher)?;
            }
            Ok(())
        }
        Fault::FrontProxy { worker, .. } => {
            deployment.workers[*worker].front.set_mode(FaultMode::Pass);
            Ok(())
        }
        Fault::RedisProxy { worker, .. } => {
            deployment.workers[*worker]
                .redis_link
                .set_mode(FaultMode::Pass);
            Ok(())
        }
        Fault::KillRedis { .. } => deployment.start_redis(),
        Fault::RollingRestart { .. } => Ok(()),
    }
}

/// Stops each worker politely (SIGTERM: it hands its shards over), starts it
/// again `down` later as the next release (a version bump: link and record
/// format one higher, so the fleet is upgraded under load and dispatchers of
/// this release meet workers of the next) and waits (at most 10 s) until it
/// listens and every shard is leased by its rendezvous owner again before the
/// next one, as a Kubernetes rolling update does with a readiness gate.
async fn rolling_restart(deployment: &mut Deployment, down: Duration) -> anyhow::Result<()> {
    let ids = deployment.worker_ids();
    for index in 0..deployment.workers.len() {
        deployment.stop_worker(index)?;
        tokio::time::sleep(down).await;
        deployment.workers[index].upgraded = true;
        deployment.start_worker(index)?;
        let listen = deployment.workers[index].listen;
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(listen).await.is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} not listening 10 s after its restart",
                ids[index]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            deployment.wait_for_rendezvous(&ids, left).await,
            "the leases did not settle within 10 s of restarting {}",
            ids[index]
        );
    }
    Ok(())
}
