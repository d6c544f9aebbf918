//! One well-formed call of each method of `fenliu.v1.Routing`, so that a test can
//! sweep every RPC with a token and see each refused (or not). A method added to
//! the API fails `every_method_is_swept` until it is added here.

use fenliu_tests::*;
use tonic::Status;

/// The methods of `fenliu.v1.Routing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    UpsertShop,
    GetShop,
    UpsertAccount,
    RemoveAccount,
    UpsertGroup,
    RemoveGroup,
    SetAccountStatus,
    Heartbeat,
    Route,
    EndSession,
    Transfer,
    PullQueued,
    GetSession,
    GetShopState,
    WatchShop,
    RecordReply,
}

impl Rpc {
    pub const ALL: [Rpc; 16] = [
        Rpc::UpsertShop,
        Rpc::GetShop,
        Rpc::UpsertAccount,
        Rpc::RemoveAccount,
        Rpc::UpsertGroup,
        Rpc::RemoveGroup,
        Rpc::SetAccountStatus,
        Rpc::Heartbeat,
        Rpc::Route,
        Rpc::EndSession,
        Rpc::Transfer,
        Rpc::PullQueued,
        Rpc::GetSession,
        Rpc::GetShopState,
        Rpc::WatchShop,
        Rpc::RecordReply,
    ];

    /// The scope the API's table gives the method, as a token names it.
    pub fn scope(self) -> &'static str {
        let name = format!("{self:?}");
        fenliu_node::auth::scopes::scope_of(&name)
            .expect("every method has a scope")
            .claim_name()
    }
}

/// Calls `rpc` on `shop` with `client`: a call that would change the shop if
/// allowed (a mutating method), or read it.
pub async fn call(client: &mut Client, rpc: Rpc, shop: &str) -> Result<(), Status> {
    let shop_id = shop.to_owned();
    match rpc {
        Rpc::UpsertShop => client
            .upsert_shop(pb::UpsertShopRequest {
                shop_id,
                close_delay_seconds: Some(7),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::GetShop => client
            .get_shop(pb::GetShopRequest { shop_id })
            .await
            .map(drop),
        Rpc::UpsertAccount => client
            .upsert_account(cs_account(shop, "newcomer", 3))
            .await
            .map(drop),
        Rpc::RemoveAccount => client
            .remove_account(pb::RemoveAccountRequest {
                shop_id,
                account_id: "b".to_owned(),
            })
            .await
            .map(drop),
        Rpc::UpsertGroup => client
            .upsert_group(pb::UpsertGroupRequest {
                shop_id,
                name: "presale".to_owned(),
                member_account_ids: vec!["a".to_owned()],
                order_statuses: vec![pb::OrderStatus::OrderedNotPaid as i32],
            })
            .await
            .map(drop),
        Rpc::RemoveGroup => client
            .remove_group(pb::RemoveGroupRequest {
                shop_id,
                name: "presale".to_owned(),
            })
            .await
            .map(drop),
        Rpc::SetAccountStatus => client
            .set_account_status(pb::SetAccountStatusRequest {
                shop_id,
                account_id: "b".to_owned(),
                status: pb::AccountStatus::Online as i32,
            })
            .await
            .map(drop),
        Rpc::Heartbeat => client
            .heartbeat(pb::HeartbeatRequest {
                shop_id,
                account_ids: vec!["a".to_owned()],
            })
            .await
            .map(drop),
        Rpc::Route => client
            .route(route_request(
                shop,
                "intruder",
                pb::OrderStatus::NoActiveOrder,
            ))
            .await
            .map(drop),
        Rpc::EndSession => client
            .end_session(pb::EndSessionRequest {
                shop_id,
                session_id: 1,
                actor_account_id: String::new(),
            })
            .await
            .map(drop),
        Rpc::Transfer => client
            .transfer(pb::TransferRequest {
                shop_id,
                session_id: 1,
                actor_account_id: "a".to_owned(),
                to_account_id: "b".to_owned(),
            })
            .await
            .map(drop),
        Rpc::PullQueued => client
            .pull_queued(pb::PullQueuedRequest {
                shop_id,
                account_id: "b".to_owned(),
                queue: "shop".to_owned(),
            })
            .await
            .map(drop),
        Rpc::GetSession => client
            .get_session(pb::GetSessionRequest {
                shop_id,
                session_id: 1,
            })
            .await
            .map(drop),
        Rpc::GetShopState => client
            .get_shop_state(pb::GetShopStateRequest { shop_id })
            .await
            .map(drop),
        Rpc::WatchShop => client
            .watch_shop(pb::WatchShopRequest {
                shop_id,
                from_sequence: None,
            })
            .await
            .map(drop),
        Rpc::RecordReply => client
            .record_reply(pb::RecordReplyRequest {
                shop_id,
                session_id: 1,
                account_id: "b".to_owned(),
            })
            .await
            .map(drop),
    }
}

#[test]
fn every_method_is_swept() {
    use prost::Message;
    let descriptors = prost_types::FileDescriptorSet::decode(fenliu_proto::FILE_DESCRIPTOR_SET)
        .expect("the API's descriptor set decodes");
    let methods: Vec<String> = descriptors
        .file
        .iter()
        .flat_map(|file| &file.service)
        .filter(|service| service.name() == "Routing")
        .flat_map(|service| &service.method)
        .map(|method| method.name().to_owned())
        .collect();
    let swept: Vec<String> = Rpc::ALL.iter().map(|rpc| format!("{rpc:?}")).collect();
    for method in &methods {
        assert!(
            swept.contains(method),
            "{method} is not swept: add it to Rpc"
        );
    }
    assert_eq!(methods.len(), swept.len());
}
