//! Every request of `fenliu.v1.Routing` as one value a property can draw, send and
//! print: which method it is, the fields its refusals may name, whether it only
//! reads, and sending it to a server with a bounded deadline.

use std::time::Duration;

use fenliu_tests::{Client, pb};
use prost::Message;
use tonic::{Request, Status};

use crate::fixture::Shops;

/// A call answered later than this hangs: a panicked handler behind the
/// dispatcher's link is never answered, and must show as a failure, not a wait.
const CALL_DEADLINE: Duration = Duration::from_secs(3);

/// Which server a call goes to: the dispatcher forwards it over its link to the
/// worker; the worker serves it directly. Both must hold the same properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Dispatcher,
    Worker,
}

fn with_deadline<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(CALL_DEADLINE);
    request
}

/// Writes [`FuzzCall`] from the list of methods: variant, client method, request
/// type, whether it only reads, and the request's fields (as the proto names them).
macro_rules! fuzz_calls {
    ($($variant:ident: $method:ident($request:ident), $reads:expr, [$($field:literal),*];)*) => {
        /// One request of any `Routing` method.
        #[derive(Clone, Debug)]
        pub enum FuzzCall {
            $($variant(pb::$request),)*
        }

        /// Every method's name, as in its gRPC path.
        pub const METHODS: &[&str] = &[$(stringify!($variant)),*];

        impl FuzzCall {
            /// Decodes `bytes` as the request of `method` (one of [`METHODS`]).
            pub fn decode(method: &str, bytes: &[u8]) -> Result<FuzzCall, prost::DecodeError> {
                match method {
                    $(stringify!($variant) => pb::$request::decode(bytes).map(FuzzCall::$variant),)*
                    _ => panic!("not a Routing method: {method}"),
                }
            }

            /// The request as it travels.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(FuzzCall::$variant(request) => request.encode_to_vec(),)*
                }
            }

            /// The method's name, as in its gRPC path `/fenliu.v1.Routing/<name>`.
            pub fn method(&self) -> &'static str {
                match self {
                    $(FuzzCall::$variant(_) => stringify!($variant),)*
                }
            }

            /// Whether the method only reads (it must change nothing even when it
            /// succeeds).
            pub fn reads_only(&self) -> bool {
                match self {
                    $(FuzzCall::$variant(_) => $reads,)*
                }
            }

            /// The request's fields: what a refusal's message may name.
            pub fn fields(&self) -> &'static [&'static str] {
                match self {
                    $(FuzzCall::$variant(_) => &[$($field),*],)*
                }
            }

            /// The shop the request names.
            pub fn shop_id(&self) -> &str {
                match self {
                    $(FuzzCall::$variant(request) => &request.shop_id,)*
                }
            }

            /// Names the case's shops where the request was drawn naming their
            /// placeholders (their real ids are known only once they are made).
            pub fn place_in(&mut self, shops: &Shops) {
                match self {
                    $(FuzzCall::$variant(request) => {
                        request.shop_id = shops.place(&request.shop_id);
                    })*
                }
            }

            /// Sends the request; a stream's first answer is its status, and the
            /// stream is then dropped.
            pub async fn send(self, client: &mut Client) -> Result<(), Status> {
                match self {
                    $(FuzzCall::$variant(request) => {
                        client.$method(with_deadline(request)).await.map(drop)
                    })*
                }
            }
        }
    };
}

fuzz_calls! {
    UpsertShop: upsert_shop(UpsertShopRequest), false, [
        "shop_id", "profile", "main_account_id", "routing_mode", "affinity_window_seconds",
        "bot_enabled", "offline_policy", "offline_list", "proxy_account_id",
        "offline_forwarding", "close_delay_seconds", "default_max_concurrent",
        "distribution", "presence_ttl_seconds", "max_queue_wait_seconds",
        "queue_timeout_action", "reply_timeout_seconds", "reassign_unanswered",
        "max_reassignments", "priority_aging_seconds"
    ];
    GetShop: get_shop(GetShopRequest), true, ["shop_id"];
    UpsertAccount: upsert_account(UpsertAccountRequest), false, [
        "shop_id", "account_id", "display_name", "roles", "non_routing", "max_concurrent",
        "pool_permission", "main_account_participates"
    ];
    RemoveAccount: remove_account(RemoveAccountRequest), false, ["shop_id", "account_id"];
    UpsertGroup: upsert_group(UpsertGroupRequest), false, [
        "shop_id", "name", "member_account_ids", "order_statuses"
    ];
    RemoveGroup: remove_group(RemoveGroupRequest), false, ["shop_id", "name"];
    SetAccountStatus: set_account_status(SetAccountStatusRequest), false, [
        "shop_id", "account_id", "status"
    ];
    Heartbeat: heartbeat(HeartbeatRequest), false, ["shop_id", "account_ids"];
    Route: route(RouteRequest), false, [
        "shop_id", "buyer_id", "request_id", "order_status", "addressed_account_id", "from_bot",
        "priority", "explain"
    ];
    EndSession: end_session(EndSessionRequest), false, [
        "shop_id", "session_id", "actor_account_id"
    ];
    Transfer: transfer(TransferRequest), false, [
        "shop_id", "session_id", "actor_account_id", "to_account_id"
    ];
    PullQueued: pull_queued(PullQueuedRequest), false, ["shop_id", "account_id", "queue"];
    GetSession: get_session(GetSessionRequest), true, ["shop_id", "session_id"];
    GetShopState: get_shop_state(GetShopStateRequest), true, ["shop_id"];
    WatchShop: watch_shop(WatchShopRequest), true, ["shop_id", "from_sequence"];
    RecordReply: record_reply(RecordReplyRequest), false, [
        "shop_id", "session_id", "account_id"
    ];
}
