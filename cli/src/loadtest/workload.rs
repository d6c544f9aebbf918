//! The shop workload of `fenliu loadtest`: the generator of buyers' messages
//! (new and returning buyers, sessions of several messages, addressed messages,
//! transfers) and what follows each answer. Pure: no I/O and no clock, so it is
//! tested as it is; its random choices are in `random`.

mod random;

use std::collections::VecDeque;

use random::{Prng, Zipf};

/// What the generator is asked to produce.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Prefix of every shop id and request id: unique per run, so that runs
    /// against the same server do not meet each other's shops and buyers.
    pub run_id: String,
    /// Shops set up for the run (`--shops`): indices 0.. of the Zipf draw.
    pub shops: usize,
    /// Customer-service accounts per shop (`--accounts`): the accounts a
    /// message may address or a session be transferred to.
    pub accounts: usize,
    /// Popularity skew of the shops (`--zipf-s`).
    pub zipf_s: f64,
    /// Share of sessions started by a buyer seen before in the shop.
    pub returning: f64,
    /// Messages a conversation sends before its session is ended.
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
    /// The shop's index, as drawn by popularity.
    pub shop: usize,
    /// The buyer's number within the shop (see [`buyer_id`]).
    pub buyer: u64,
    /// Messages already answered.
    pub answered: u32,
    /// The account the first message addresses, if any.
    pub addressed: Option<usize>,
    /// Whether the main account transfers the session once its first message
    /// is assigned.
    pub transfer: bool,
    /// The session the last answer named (0 before the first).
    pub session_id: u64,
}

/// The next Route to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// The conversation it belongs to, handed back with the answer.
    pub conversation: Conversation,
    /// The server's idempotency key: unique over the run (it carries the run
    /// id), since a repeated one would only replay the first answer.
    pub request_id: String,
    /// The buyer's order status (an `OrderStatus` value), drawn at random so
    /// that the routing inputs vary as in real traffic.
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
    /// The buyer's session: the next messages should hit it, and the end and
    /// transfer name it.
    pub session_id: u64,
    /// The holder when the session is ASSIGNED.
    pub assigned_to: Option<String>,
}

/// A session to end after the think time, then give its buyer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndPlan {
    /// The shop's index.
    pub shop: usize,
    /// The buyer to give back to the shop's idle buyers once ended.
    pub buyer: u64,
    /// 0 when no session is known (the first message failed): nothing to end,
    /// only the buyer to give back.
    pub session_id: u64,
}

/// The main account moves a session to another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPlan {
    /// The shop's index.
    pub shop: usize,
    /// The session to move.
    pub session_id: u64,
    /// The receiving account's index, never the current holder.
    pub to_account: usize,
}

/// What follows an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Next {
    /// A transfer to make at once, after the first answer.
    pub transfer: Option<TransferPlan>,
    /// The session to end after the think time, when the conversation is over
    /// or its call failed.
    pub end: Option<EndPlan>,
}

/// One shop's buyers: new ones are numbered in turn, idle ones may return.
#[derive(Debug, Default)]
struct ShopBuyers {
    /// The last new buyer's number: the next new buyer gets the one after.
    next_buyer: u64,
    /// Buyers seen before with no conversation going on: the returning ones.
    idle: Vec<u64>,
}

/// The generator. Conversations waiting for their next message are served
/// first, so that in the long run a share 1/messages_per_session of the Routes
/// start sessions and the rest hit the buyer's open session (R1).
#[derive(Debug)]
pub struct Workload {
    /// What to produce.
    config: WorkloadConfig,
    /// Every random choice, from the one seed, so that a seed replays a run.
    rng: Prng,
    /// Which shop a new conversation goes to.
    zipf: Zipf,
    /// Each shop's buyers, by shop index.
    shops: Vec<ShopBuyers>,
    /// Conversations answered and waiting for their next message, oldest first.
    ready: VecDeque<Conversation>,
    /// Request ids handed out so far: the number in the next one.
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
