//! The first property: requests with arbitrary values in every field, sent through
//! the dispatcher or straight to the worker, into a shop with some of everything
//! beside a neighbour shop.

use fenliu_tests::*;
use proptest::test_runner::TestCaseResult;

use crate::checks::{Before, check_refusal, no_longer_serving, tally};
use crate::fixture::{Deployment, Setup};
use crate::requests::{FuzzCall, Via};
use crate::runner::{check_no_panic_since, panic_count, run_property};
use crate::strategies;

/// Runs `cases` cases on a deployment on Redis or on the embedded default.
pub fn check(cases: u32, on_redis: bool) {
    run_property(file!(), cases, on_redis, strategies::case(), check_case);
}

/// One case: fresh shops, then each call with its answer checked, and the shops
/// compared before and after: a call changes at most the shop it names, and not
/// even that when it is refused or only reads.
async fn check_case(
    deployment: &Deployment,
    (setup, calls): (Setup, Vec<(Via, FuzzCall)>),
) -> TestCaseResult {
    let mut case = deployment.start_case(setup).await;
    for (via, mut call) in calls {
        call.place_in(&case.shops);
        let described = format!("{} via the {via:?} of {call:?}", call.method());
        let before = Before::take(&mut case, &described).await?;
        let panics = panic_count();
        let (method, fields, reads_only) = (call.method(), call.fields(), call.reads_only());
        let shop_id = call.shop_id().to_owned();
        let result = call.send(&mut deployment.client(via)).await;
        check_no_panic_since(panics, &described)?;
        tally(method, &result);
        if let Err(status) = &result {
            check_refusal(&described, fields, status)?;
        }
        let may_change = (result.is_ok() && !reads_only).then_some(shop_id.as_str());
        before.check_after(&mut case, &result, may_change).await?;
    }
    for via in [Via::Dispatcher, Via::Worker] {
        for shop_id in case.shop_ids() {
            try_get_shop(&mut deployment.client(via), shop_id)
                .await
                .map_err(no_longer_serving("a GetShop after the case"))?;
        }
    }
    Ok(())
}
