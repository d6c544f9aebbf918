//! The shop workload of `fenliu loadtest`: a seeded PRNG (SplitMix64), the Zipf
//! sampler of shop popularity, and the generator of buyers' messages (new and
//! returning buyers, sessions of several messages, addressed messages,
//! transfers). Pure: no I/O and no clock, so it is tested as it is.

use std::collections::VecDeque;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator that passes
/// BigCrush; plenty for choosing shops and buyers. The same seed gives the same
/// sequence.
#[derive(Debug, Clone)]
pub struct Prng {
    state: u64,
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) for n > 0 (multiply-shift; the bias is below 2^-32 for
    /// any n this tool uses).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// Zipf over ranks 1..=n: rank k is drawn with probability ∝ 1/k^s (s = 0 is
/// uniform). Sampled by binary search in the precomputed cumulative
/// distribution.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        assert!(n > 0, "Zipf over no ranks");
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += (k as f64).powf(-s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        // Rounding must never leave a draw past the last rank.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    /// A 0-based index: 0 is rank 1, the most popular.
    pub fn sample(&self, rng: &mut Prng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// The probability of the 0-based index `i`.
    #[cfg(test)]
    pub fn probability(&self, i: usize) -> f64 {
        let below = if i == 0 { 0.0 } else { self.cdf[i - 1] };
        self.cdf[i] - below
    }
}

/// What the generator is asked to produce.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Prefix of every shop id and request id: unique per run, so that runs
    /// against the same server do not meet each other's shops and buyers.
    pub run_id: String,
    pub shops: usize,
    pub accounts: usize,
    pub zipf_s: f64,
    /// Share of sessions started by a buyer seen before in the shop.
    pub returning: f64,
    pub messages_per_session: u32,
    /// Share of sessions whose first message addresses a random account.
    pub addressed: f64,
    /// Share of sessions the main account transfers to another account after
    /// their first message was assigned.
    pub transfers: f64,
}

/// A buyer's idle list keeps at most this many buyers per shop (a random one is
/// forgotten to make room), which bounds memory on long runs.
const MAX_IDLE_BUYERS_PER_SHOP: usize = 10_000;

/// The account every generated shop has as its MAIN account.
pub const MAIN_ACCOUNT: &str = "owner";

pub fn shop_id(run_id: &str, shop: usize) -> String {
    format!("{run_id}-shop-{:04}", shop + 1)
}

pub fn account_id(account: usize) -> String {
    format!("cs-{:03}", account + 1)
}

pub fn buyer_id(buyer: u64) -> String {
    format!("buyer-{buyer}")
}

/// One buyer's conversation: a session of `messages_per_session` messages.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub shop: usize,
    pub buyer: u64,
    /// Messages already answered.
    pub answered: u32,
    /// The account the first message addresses, if any.
    pub addressed: Option<usize>,
    pub transfer: bool,
    /// The session the last answer named (0 before the first).
    pub session_id: u64,
}

/// The next Route to send.
#[derive(Debug, Clone)]
pub struct Message {
    pub conversation: Conversation,
    pub request_id: String,
    pub order_status: i32,
}

impl Message {
    pub fn is_first(&self) -> bool {
        self.conversation.answered == 0
    }

    pub fn addressed_account(&self) -> Option<usize> {
        if self.is_first() {
            self.conversation.addressed
        } else {
            None
        }
    }
}

/// What the answer to a Route said, as far as the workload cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub session_id: u64,
    /// The holder when the session is ASSIGNED.
    pub assigned_to: Option<String>,
}

/// A session to end after the think time, then give its buyer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPlan {
    pub shop: usize,
    pub buyer: u64,
    /// 0 when no session is known (the first message failed): nothing to end,
    /// only the buyer to give back.
    pub session_id: u64,
}

/// The main account moves a session to another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPlan {
    pub shop: usize,
    pub session_id: u64,
    pub to_account: usize,
}

/// What follows an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Next {
    pub transfer: Option<TransferPlan>,
    pub end: Option<EndPlan>,
}

#[derive(Debug, Default)]
struct ShopBuyers {
    next_buyer: u64,
    /// Buyers seen before with no conversation going on: the returning ones.
    idle: Vec<u64>,
}

/// The generator. Conversations waiting for their next message are served
/// first, so that in the long run a share 1/messages_per_session of the Routes
/// start sessions and the rest hit the buyer's open session (R1).
#[derive(Debug)]
pub struct Workload {
    config: WorkloadConfig,
    rng: Prng,
    zipf: Zipf,
    shops: Vec<ShopBuyers>,
    ready: VecDeque<Conversation>,
    next_request: u64,
}

const ORDER_STATUSES: [i32; 6] = [1, 2, 3, 4, 5, 6];

impl Workload {
    pub fn new(config: WorkloadConfig, seed: u64) -> Workload {
        let zipf = Zipf::new(config.shops, config.zipf_s);
        let shops = (0..config.shops).map(|_| ShopBuyers::default()).collect();
        Workload {
            config,
            rng: Prng::new(seed),
            zipf,
            shops,
            ready: VecDeque::new(),
            next_request: 0,
        }
    }

    pub fn next_message(&mut self) -> Message {
        let conversation = match self.ready.pop_front() {
            Some(conversation) => conversation,
            None => self.start_conversation(),
        };
        self.next_request += 1;
        let order_status = ORDER_STATUSES[self.rng.below(ORDER_STATUSES.len() as u64) as usize];
        Message {
            request_id: format!("{}-r{}", self.config.run_id, self.next_request),
            conversation,
            order_status,
        }
    }

    fn start_conversation(&mut self) -> Conversation {
        let shop = self.zipf.sample(&mut self.rng);
        let wants_returning = self.rng.chance(self.config.returning);
        let buyers = &mut self.shops[shop];
        let buyer = if wants_returning && !buyers.idle.is_empty() {
            let i = self.rng.below(buyers.idle.len() as u64) as usize;
            buyers.idle.swap_remove(i)
        } else {
            buyers.next_buyer += 1;
            buyers.next_buyer
        };
        let addressed = if self.rng.chance(self.config.addressed) {
            Some(self.rng.below(self.config.accounts as u64) as usize)
        } else {
            None
        };
        let transfer = self.config.accounts >= 2 && self.rng.chance(self.config.transfers);
        Conversation {
            shop,
            buyer,
            answered: 0,
            addressed,
            transfer,
            session_id: 0,
        }
    }

    /// The answer to `message` (None when the call failed). A failed call ends
    /// the conversation.
    pub fn answered(&mut self, message: Message, answer: Option<&Answer>) -> Next {
        let mut conversation = message.conversation;
        let Some(answer) = answer else {
            return Next {
                transfer: None,
                end: Some(EndPlan {
                    shop: conversation.shop,
                    buyer: conversation.buyer,
                    session_id: conversation.session_id,
                }),
            };
        };
        let first = conversation.answered == 0;
        conversation.answered += 1;
        conversation.session_id = answer.session_id;
        let mut next = Next::default();
        if first
            && conversation.transfer
            && let Some(holder) = &answer.assigned_to
        {
            let n = self.config.accounts;
            let mut to = self.rng.below(n as u64) as usize;
            if account_id(to) == *holder {
                to = (to + 1) % n;
            }
            next.transfer = Some(TransferPlan {
                shop: conversation.shop,
                session_id: answer.session_id,
                to_account: to,
            });
        }
        if conversation.answered >= self.config.messages_per_session {
            next.end = Some(EndPlan {
                shop: conversation.shop,
                buyer: conversation.buyer,
                session_id: conversation.session_id,
            });
        } else {
            self.ready.push_back(conversation);
        }
        next
    }

    /// The buyer's session was ended (or given up): they may come back.
    pub fn ended(&mut self, plan: &EndPlan) {
        let buyers = &mut self.shops[plan.shop];
        if buyers.idle.len() < MAX_IDLE_BUYERS_PER_SHOP {
            buyers.idle.push(plan.buyer);
        } else {
            let i = self.rng.below(buyers.idle.len() as u64) as usize;
            buyers.idle[i] = plan.buyer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WorkloadConfig {
        WorkloadConfig {
            run_id: "lt-test".to_owned(),
            shops: 10,
            accounts: 4,
            zipf_s: 1.1,
            returning: 0.5,
            messages_per_session: 3,
            addressed: 0.0,
            transfers: 0.0,
        }
    }

    #[test]
    fn the_prng_is_deterministic_for_a_seed() {
        let a: Vec<u64> = {
            let mut rng = Prng::new(42);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut rng = Prng::new(42);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut rng = Prng::new(43);
            (0..100).map(|_| rng.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        // SplitMix64's published first output for seed 0.
        assert_eq!(Prng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn the_prng_draws_stay_in_range_and_look_uniform() {
        let mut rng = Prng::new(7);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
            let b = rng.below(10);
            assert!(b < 10);
            buckets[b as usize] += 1;
        }
        for count in buckets {
            assert!((9_000..11_000).contains(&count), "{buckets:?}");
        }
    }

    #[test]
    fn zipf_picks_the_first_shop_far_more_often_than_the_last() {
        let zipf = Zipf::new(100, 1.1);
        let mut rng = Prng::new(1);
        let draws = 200_000;
        let mut counts = vec![0u64; 100];
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // 100^1.1 ≈ 158: shop 1 is drawn about 158 times as often as shop 100.
        assert!(
            counts[0] > 50 * counts[99].max(1),
            "{} vs {}",
            counts[0],
            counts[99]
        );
        // The frequencies follow 1/k^s: for the popular ranks, within 5%.
        for k in [1usize, 2, 3, 5, 10] {
            let expected = zipf.probability(k - 1) * draws as f64;
            let got = counts[k - 1] as f64;
            assert!(
                (got - expected).abs() < 0.05 * expected,
                "rank {k}: {got} drawn, {expected} expected"
            );
        }
        // And their ratios are k^s.
        let ratio = counts[0] as f64 / counts[9] as f64;
        let expected = 10f64.powf(1.1);
        assert!(
            (ratio / expected - 1.0).abs() < 0.1,
            "{ratio} vs {expected}"
        );
    }

    #[test]
    fn zipf_probabilities_are_proportional_to_one_over_k_to_the_s() {
        let zipf = Zipf::new(50, 1.3);
        let total: f64 = (0..50).map(|i| zipf.probability(i)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let ratio = zipf.probability(0) / zipf.probability(3);
        assert!((ratio - 4f64.powf(1.3)).abs() < 1e-9);
        // s = 0 is uniform.
        let uniform = Zipf::new(4, 0.0);
        for i in 0..4 {
            assert!((uniform.probability(i) - 0.25).abs() < 1e-12);
        }
        // One shop: always it.
        let mut rng = Prng::new(3);
        assert_eq!(Zipf::new(1, 1.1).sample(&mut rng), 0);
    }

    #[test]
    fn a_conversation_sends_its_messages_then_ends_and_its_buyer_may_return() {
        let mut workload = Workload::new(
            WorkloadConfig {
                shops: 1,
                returning: 1.0,
                ..config()
            },
            9,
        );
        let first = workload.next_message();
        assert!(first.is_first());
        let buyer = first.conversation.buyer;
        let answer = Answer {
            session_id: 11,
            assigned_to: Some(account_id(0)),
        };
        assert_eq!(workload.answered(first, Some(&answer)), Next::default());
        let second = workload.next_message();
        assert_eq!(second.conversation.buyer, buyer);
        assert!(!second.is_first());
        assert_eq!(workload.answered(second, Some(&answer)), Next::default());
        let third = workload.next_message();
        let next = workload.answered(third, Some(&answer));
        let end = next.end.expect("the third message ends the conversation");
        assert_eq!(
            end,
            EndPlan {
                shop: 0,
                buyer,
                session_id: 11
            }
        );
        // Until the session is ended the buyer is busy: a new buyer comes.
        let other = workload.next_message();
        assert_ne!(other.conversation.buyer, buyer);
        workload.ended(&end);
        // Now the buyer is idle again and, with returning = 1, comes back.
        workload.answered(other, None);
        let back = workload.next_message();
        assert_eq!(back.conversation.buyer, buyer);
        assert!(back.is_first());
    }

    #[test]
    fn request_ids_are_unique_and_carry_the_run_id() {
        let mut workload = Workload::new(config(), 1);
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let message = workload.next_message();
            assert!(message.request_id.starts_with("lt-test-"));
            assert!(ids.insert(message.request_id.clone()));
            workload.answered(
                message,
                Some(&Answer {
                    session_id: 1,
                    assigned_to: None,
                }),
            );
        }
    }

    #[test]
    fn transfers_go_to_another_account_than_the_holder() {
        let mut workload = Workload::new(
            WorkloadConfig {
                accounts: 2,
                transfers: 1.0,
                addressed: 1.0,
                ..config()
            },
            5,
        );
        for _ in 0..200 {
            let message = workload.next_message();
            let first = message.is_first();
            if first {
                assert!(message.addressed_account().is_some());
            }
            let holder = account_id(0);
            let next = workload.answered(
                message,
                Some(&Answer {
                    session_id: 3,
                    assigned_to: Some(holder),
                }),
            );
            match next.transfer {
                Some(transfer) => {
                    assert!(first);
                    assert_eq!(transfer.to_account, 1);
                }
                None => assert!(!first),
            }
        }
    }
}
