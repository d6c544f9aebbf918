//! What every answer to a fuzzed call must be: a success, or a refusal with a code
//! a client can act on whose message names a field of the request; and a call
//! changes no shop but the one it names, and not even that when it is refused or
//! only reads. The codes seen are tallied per method, to show which refusals the
//! fuzzing reached.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;

use proptest::prop_assert;
use proptest::test_runner::{TestCaseError, TestCaseResult};
use tonic::{Code, Status};

use crate::fixture::{Case, Snapshot};

/// The refusals a caller's request may earn. INVALID_ARGUMENT: a malformed field;
/// NOT_FOUND: an unknown shop, account, session, group; FAILED_PRECONDITION: valid
/// but the shop's state or settings forbid it; PERMISSION_DENIED: the acting account
/// may not (R19); ALREADY_EXISTS and RESOURCE_EXHAUSTED: what the API and quotas may
/// answer; OUT_OF_RANGE: a watch's resume point the shop's events do not reach. Never INTERNAL or UNKNOWN (a bug,
/// or a panicked handler), nor UNAVAILABLE, CANCELLED or DEADLINE_EXCEEDED (nothing
/// is down or slow here: these mean a call was lost, as a panicked handler behind
/// the link is).
pub const REFUSALS: [Code; 7] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::PermissionDenied,
    Code::AlreadyExists,
    Code::ResourceExhausted,
    Code::OutOfRange,
];

thread_local! {
    /// How often each method got each code, over a test's run (a property's cases
    /// run on its test's thread).
    static SEEN: RefCell<BTreeMap<(String, String), u64>> = const { RefCell::new(BTreeMap::new()) };
}

pub fn tally(method: &str, result: &Result<(), Status>) {
    let code = format!("{:?}", result.as_ref().err().map_or(Code::Ok, Status::code));
    SEEN.with_borrow_mut(|seen| *seen.entry((method.to_owned(), code)).or_default() += 1);
}

/// The tally so far, one `method: code × n` per line.
pub fn tally_report() -> String {
    SEEN.with_borrow(|seen| {
        seen.iter()
            .map(|((method, code), n)| format!("{method}: {code} × {n}\n"))
            .collect()
    })
}

/// A refusal must have one of the [`REFUSALS`] codes and, as every refusal of the
/// API does, open its message with the request field at fault (`field: why`).
pub fn check_refusal(call: &str, fields: &[&str], status: &Status) -> TestCaseResult {
    prop_assert!(
        REFUSALS.contains(&status.code()),
        "{call}\nanswered {status:?}: not a refusal a client can act on"
    );
    let named = status.message().split(": ").next().unwrap_or_default();
    prop_assert!(
        fields.contains(&named),
        "{call}\nrefused with {status:?}, whose message does not open with a field of the request ({fields:?})"
    );
    Ok(())
}

/// The case's shops as a call found them: after it, only the shop it names may
/// have changed, and not even that when it was refused or only read.
pub struct Before {
    /// The call, as failures describe it.
    call: String,
    /// The case's shops, in [`Case::shop_ids`] order.
    snapshots: [Snapshot; 2],
}

impl Before {
    pub async fn take(case: &mut Case, call: &str) -> Result<Before, TestCaseError> {
        let snapshots = case.snapshots().await.map_err(no_longer_serving(call))?;
        Ok(Before {
            call: call.to_owned(),
            snapshots,
        })
    }

    /// Checks that every shop of the case is as it was but `changed` (`None`:
    /// the call may change nothing), unless a deadline fell due in between (then
    /// the two snapshots say nothing about the call).
    pub async fn check_after(
        self,
        case: &mut Case,
        answer: &dyn Debug,
        changed: Option<&str>,
    ) -> TestCaseResult {
        let after = case
            .snapshots()
            .await
            .map_err(no_longer_serving(&self.call))?;
        let shops = case.shop_ids();
        for ((shop, before), after) in shops.iter().zip(&self.snapshots).zip(&after) {
            if changed == Some(*shop) || before.same_shop_as(after) || before.clock_moved_it(after)
            {
                continue;
            }
            return Err(TestCaseError::fail(format!(
                "{}\nanswered {answer:?} yet changed shop {shop:?}:\n{}",
                self.call,
                differences(&format!("{before:#?}"), &format!("{after:#?}"))
            )));
        }
        Ok(())
    }
}

/// A server that cannot answer a read of the case's shops after a call.
pub fn no_longer_serving(call: &str) -> impl FnOnce(Status) -> TestCaseError + '_ {
    move |status| TestCaseError::fail(format!("{call}\nthe server no longer serves: {status:?}"))
}

/// The lines of `before` that `after` lacks (-) and the other way round (+).
fn differences(before: &str, after: &str) -> String {
    let before_lines: Vec<&str> = before.lines().collect();
    let after_lines: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for line in &before_lines {
        if !after_lines.contains(line) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    for line in &after_lines {
        if !before_lines.contains(line) {
            out.push_str(&format!("+ {line}\n"));
        }
    }
    out
}
