//! The flood shop's part of the report (`fenliu loadtest --flood-shop-rps`):
//! what the noisy tenant's calls came to, kept apart from every other figure.

use serde::Serialize;

use fenliu_node::link::RETRY_AFTER_METADATA;

/// What the flood shop's calls came to, over the measured window. In the JSON
/// report under `flood` (null without a flood).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FloodReport {
    /// The flood shop (`<run id>-flood`).
    pub shop_id: String,
    /// Route calls per second sent (`--flood-shop-rps`).
    pub rps: f64,
    /// The shop's own rate limit (`--flood-shop-limit`).
    pub limit: u32,
    /// Route calls sent.
    pub sent: u64,
    /// Answered OK: within the shop's limit.
    pub ok: u64,
    /// Refused with RESOURCE_EXHAUSTED: over the shop's limit.
    pub rate_limited: u64,
    /// Of those, refusals that said when to retry (`fenliu-retry-after-ms`).
    pub with_retry_after: u64,
    /// Failed any other way.
    pub other_errors: u64,
}

impl FloodReport {
    /// The report's lines about the flood.
    pub fn to_text(&self) -> String {
        format!(
            "  flood shop {} at {} Route/s past its limit of {}/s (the figures above are the other shops'):\n  \
             sent {}, ok {}, refused RESOURCE_EXHAUSTED {} ({} with {RETRY_AFTER_METADATA}), other errors {}\n",
            self.shop_id,
            self.rps,
            self.limit,
            self.sent,
            self.ok,
            self.rate_limited,
            self.with_retry_after,
            self.other_errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flood_lines_name_the_shop_its_limit_and_its_refusals() {
        let report = FloodReport {
            shop_id: "lt-1-flood".to_owned(),
            rps: 2000.0,
            limit: 200,
            sent: 20_000,
            ok: 2_010,
            rate_limited: 17_990,
            with_retry_after: 17_990,
            other_errors: 0,
        };
        let text = report.to_text();
        assert!(text.contains("lt-1-flood at 2000 Route/s past its limit of 200/s"));
        assert!(
            text.contains("refused RESOURCE_EXHAUSTED 17990 (17990 with fenliu-retry-after-ms)")
        );
    }
}
