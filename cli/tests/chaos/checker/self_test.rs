//! The checker checked: small made-up histories and final states, each with a
//! known fault (or a near miss the checker must accept), run through the
//! invariants before the chaos starts. A checker that cannot fail proves
//! nothing; if one of these cases is judged wrong, the run stops there.

use std::time::Duration;

use fenliu_testkit::AppendFsync;
use fenliu_tests::pb;
use pb::SessionState::{Assigned, Ended, Queued};
use tonic::Code;

use super::{Evidence, Index, Invariant, LossModel, check_all};
use crate::final_read::FinalState;
use crate::history::{Answer, Call, Op, Outcome, Refusal, RouteCall};
use crate::shops::{ShopSpec, shop_specs};

/// The shop every case is about, and its set-up.
fn spec() -> ShopSpec {
    let mut spec = shop_specs(&["w0".to_owned()]).remove(0);
    spec.id = "s".to_owned();
    spec
}

/// A made-up case: its name, how it was judged and how it should be (each as
/// violations and excused ones).
type Case = (&'static str, (usize, usize), (usize, usize));

fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn session(id: u64, buyer: &str, state: pb::SessionState, account: &str) -> pb::Session {
    pb::Session {
        session_id: id,
        buyer_id: format!("s.{buyer}"),
        state: state as i32,
        account_id: account.to_owned(),
        queue: if state == Queued {
            "shop".to_owned()
        } else {
            String::new()
        },
        reason: if state == Queued {
            pb::RouteReason::Queued as i32
        } else {
            pb::RouteReason::Even as i32
        },
        ..Default::default()
    }
}

fn op(call: Call, sent: u64, answered: u64, outcome: Outcome) -> Op {
    Op {
        client: 0,
        dispatcher: 0,
        shop: "s".to_owned(),
        call,
        sent: at(sent),
        answered: at(answered),
        outcome,
    }
}

/// A `Route` of `buyer` with `request`, answered with `answer`.
fn route(buyer: &str, request: &str, span: (u64, u64), answer: pb::Session, replayed: bool) -> Op {
    let call = Call::Route(RouteCall {
        buyer: format!("s.{buyer}"),
        request_id: request.to_owned(),
        order_status: pb::OrderStatus::Unspecified,
        addressed: String::new(),
        retry: replayed,
    });
    let reason = answer.reason();
    let answer = Answer::Routed {
        session: answer,
        reason,
        replayed,
    };
    op(call, span.0, span.1, Outcome::Ok(answer))
}

fn end(id: u64, span: (u64, u64), outcome: Outcome) -> Op {
    op(Call::End { session_id: id }, span.0, span.1, outcome)
}

fn timed_out() -> Outcome {
    Outcome::Unknown(Refusal {
        code: Code::DeadlineExceeded,
        message: "made up".to_owned(),
    })
}

/// A final state: the shop's accounts (`cs-0` holding `held`), its queue, and
/// the sessions read back.
fn last(
    held: &[pb::Session],
    queued: &[pb::Session],
    read: &[(u64, Option<pb::Session>)],
) -> FinalState {
    let spec = spec();
    let accounts = spec
        .account_ids()
        .into_iter()
        .map(|id| {
            let mine: Vec<u64> = held
                .iter()
                .filter(|s| s.account_id == id)
                .map(|s| s.session_id)
                .collect();
            let capacity = spec
                .accounts
                .iter()
                .find(|(a, _)| *a == id)
                .map_or(10, |(_, c)| *c);
            pb::AccountState {
                account: Some(pb::Account {
                    account_id: id.to_owned(),
                    effective_max_concurrent: capacity,
                    ..Default::default()
                }),
                status: pb::AccountStatus::Online as i32,
                occupancy: mine.len() as u32,
                session_ids: mine,
                ..Default::default()
            }
        })
        .collect();
    let mut queued = queued.to_vec();
    for (position, session) in queued.iter_mut().enumerate() {
        session.queue_position = position as u32 + 1;
    }
    let state = pb::ShopState {
        shop: Some(pb::Shop::default()),
        accounts,
        queues: vec![pb::Queue {
            name: "shop".to_owned(),
            sessions: queued,
        }],
        ..Default::default()
    };
    let sessions = read
        .iter()
        .map(|(id, found)| (("s".to_owned(), *id), found.clone().ok_or(Code::NotFound)))
        .collect();
    FinalState {
        shops: [("s".to_owned(), state)].into_iter().collect(),
        sessions,
        unreadable: Vec::new(),
    }
}

/// The violations (and excused ones) `name` finds in a case.
fn judge(
    ops: &[Op],
    last: &FinalState,
    fsync: AppendFsync,
    kills: &[u64],
    name: &str,
) -> (usize, usize) {
    let specs = [spec()];
    let created = [pb::Shop::default()];
    let loss = LossModel {
        fsync,
        kills: kills.iter().map(|k| at(*k)).collect(),
    };
    let evidence = Evidence {
        specs: &specs,
        created: &created,
        ops,
        index: Index::new(ops),
        last,
        replays: &[],
        loss: &loss,
    };
    let verdicts: Vec<Invariant> = check_all(&evidence);
    let verdict = verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no invariant {name:?}"));
    (verdict.violations.len(), verdict.excused.len())
}

/// Runs every case; returns the cases judged wrong.
pub fn run() -> Vec<String> {
    let always = AppendFsync::Always;
    let kept = "every acknowledged session kept (or acknowledged ended)";
    let retries = "a retried request id always got the first answer";
    let buyers = "one open session per buyer per shop";
    let capacity = "capacity exceeded only where a rule allows it";
    let queues = "queues in order";
    let holder = "at most one holder per session";
    let a1 = session(1, "b1", Assigned, "cs-0");
    let mut cases: Vec<Case> = Vec::new();

    let acked = [route("b1", "r1", (0, 10), a1.clone(), false)];
    let lost = last(&[], &[], &[(1, None)]);
    cases.push((
        "an acknowledged session lost",
        judge(&acked, &lost, always, &[], kept),
        (1, 0),
    ));
    let ended = [acked[0].clone(), end(1, (20, 30), timed_out())];
    cases.push((
        "a lost session that may have been ended",
        judge(&ended, &lost, always, &[], kept),
        (0, 0),
    ));
    cases.push((
        "a session lost by a Redis crash with everysec, acknowledged just before it",
        judge(&acked, &lost, AppendFsync::EverySec, &[500], kept),
        (0, 1),
    ));
    cases.push((
        "the same with appendfsync always",
        judge(&acked, &lost, always, &[500], kept),
        (1, 0),
    ));
    let moved = last(
        &[session(1, "b1", Assigned, "cs-1")],
        &[],
        &[(1, Some(session(1, "b1", Assigned, "cs-1")))],
    );
    cases.push((
        "a session moved without a transfer",
        judge(&acked, &moved, always, &[], kept),
        (1, 0),
    ));
    let ended_read = last(&[], &[], &[(1, Some(session(1, "b1", Ended, "cs-0")))]);
    cases.push((
        "a session ended by nobody",
        judge(&acked, &ended_read, always, &[], kept),
        (1, 0),
    ));

    let kept_state = last(std::slice::from_ref(&a1), &[], &[(1, Some(a1.clone()))]);
    let retried = [
        route("b1", "r1", (0, 10), a1.clone(), false),
        route(
            "b1",
            "r1",
            (20, 30),
            session(2, "b1", Assigned, "cs-1"),
            true,
        ),
    ];
    cases.push((
        "a retry answered with another session",
        judge(&retried, &kept_state, always, &[], retries),
        (1, 0),
    ));
    let twice = [
        route("b1", "r1", (0, 10), a1.clone(), false),
        route("b1", "r1", (20, 30), a1.clone(), false),
    ];
    cases.push((
        "a request id decided twice",
        judge(&twice, &kept_state, always, &[], retries),
        (1, 0),
    ));

    let second = session(2, "b1", Assigned, "cs-1");
    let both = last(
        &[a1.clone(), second.clone()],
        &[],
        &[(1, Some(a1.clone())), (2, Some(second.clone()))],
    );
    let two_routes = [
        route("b1", "r1", (0, 10), a1.clone(), false),
        route("b1", "r2", (20, 30), second.clone(), false),
    ];
    cases.push((
        "a buyer given a second open session",
        judge(&two_routes, &both, always, &[], buyers),
        (2, 0),
    ));
    let after_end = [
        route("b1", "r1", (0, 10), a1.clone(), false),
        end(
            1,
            (12, 14),
            Outcome::Ok(Answer::Session(session(1, "b1", Ended, "cs-0"))),
        ),
        route("b1", "r2", (20, 30), second.clone(), false),
    ];
    let after_end_state = last(
        std::slice::from_ref(&second),
        &[],
        &[(1, None), (2, Some(second.clone()))],
    );
    cases.push((
        "a buyer's new session after the first ended",
        judge(&after_end, &after_end_state, always, &[], buyers),
        (0, 0),
    ));

    let three: Vec<pb::Session> = (1..=3)
        .map(|i| session(i, &format!("b{i}"), Assigned, "cs-0"))
        .collect();
    let reads: Vec<(u64, Option<pb::Session>)> = three
        .iter()
        .map(|s| (s.session_id, Some(s.clone())))
        .collect();
    let full = last(&three, &[], &reads);
    let routes: Vec<Op> = three
        .iter()
        .map(|s| {
            route(
                &s.buyer_id[2..],
                &format!("r{}", s.session_id),
                (0, 10),
                s.clone(),
                false,
            )
        })
        .collect();
    cases.push((
        "an account over capacity by even picks",
        judge(&routes, &full, always, &[], capacity),
        (1, 0),
    ));
    let mut by_affinity = three.clone();
    by_affinity[2].reason = pb::RouteReason::Affinity as i32;
    let reads: Vec<(u64, Option<pb::Session>)> = by_affinity
        .iter()
        .map(|s| (s.session_id, Some(s.clone())))
        .collect();
    let full = last(&by_affinity, &[], &reads);
    cases.push((
        "an account over capacity by an affinity",
        judge(&routes, &full, always, &[], capacity),
        (0, 0),
    ));

    let queued = |id: u64| session(id, &format!("b{id}"), Queued, "");
    let served = session(5, "b5", Assigned, "cs-0");
    let overtaken = last(
        std::slice::from_ref(&served),
        &[queued(4)],
        &[(4, Some(queued(4))), (5, Some(served.clone()))],
    );
    let queued_routes = [
        route("b4", "r4", (0, 10), queued(4), false),
        route("b5", "r5", (20, 30), queued(5), false),
    ];
    cases.push((
        "a newer session served before an older one of its queue",
        judge(&queued_routes, &overtaken, always, &[], queues),
        (1, 0),
    ));

    let twice_held = last(
        &[
            a1.clone(),
            pb::Session {
                account_id: "cs-1".to_owned(),
                ..a1.clone()
            },
        ],
        &[],
        &[(1, Some(a1.clone()))],
    );
    let holder_case = judge(&acked, &twice_held, always, &[], holder);
    cases.push((
        "a session held by two accounts",
        (holder_case.0.min(1), holder_case.1),
        (1, 0),
    ));

    cases
        .into_iter()
        .filter(|(_, got, want)| got != want)
        .map(|(case, got, want)| {
            format!("{case}: (violations, excused) {got:?}, expected {want:?}")
        })
        .collect()
}
