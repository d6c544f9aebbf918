//! The key layout's tests: names read back into what they were built from
//! (so no two triples share one), no ids an attacker spells out of a name give
//! that name, and every key of a shop hashes to the shop's own slot.

use proptest::prelude::*;

use super::*;

/// (namespace, shop, kind, id): what a name is a function of, read back.
type Parts = (String, String, &'static str, Option<String>);

/// The parts a key is named from, the id as text (a session as decimal).
fn parts(namespace: &str, shop: &str, key: Key<'_>) -> Parts {
    let id = match key {
        Key::Presence(id) | Key::Affinity(id) | Key::Request(id) => Some(id.to_owned()),
        Key::Ending(session) => Some(session.to_string()),
        _ => None,
    };
    (namespace.to_owned(), shop.to_owned(), key.kind(), id)
}

/// Undoes [`Escaped`]; `None` for text it never writes.
fn unescape(text: &str) -> Option<String> {
    if text.contains(['{', '}', ':']) {
        return None;
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        out.push(match rest.get(at + 1..at + 3)? {
            "25" => '%',
            "7B" => '{',
            "7D" => '}',
            "3A" => ':',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Reads a name back into its parts, by the structure the module's doc
/// describes; `None` if it does not have that structure.
fn decode(name: &str) -> Option<Parts> {
    let (namespace, rest) = name.split_once(":{")?;
    let (shop, rest) = rest.split_once("}:")?;
    let (kind, id) = match rest.split_once(':') {
        Some((kind, id)) => (kind, Some(unescape(id)?)),
        None => (rest, None),
    };
    let kind = KINDS.iter().find(|known| **known == kind)?;
    Some((namespace.to_owned(), unescape(shop)?, kind, id))
}

/// Every kind word, as [`Key::kind`] writes them.
const KINDS: [&str; 11] = [
    "fence",
    "shop",
    "accounts",
    "presence",
    "groups",
    "sessions",
    "ending",
    "affinity",
    "affinities",
    "request",
    "events",
];

/// The hash tag by the Redis Cluster rule: what lies between the first `{`
/// and the first `}` after it, if that is not empty; else the whole key.
fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(length) = key[open + 1..].find('}')
        && length > 0
    {
        return &key[open + 1..open + 1 + length];
    }
    key
}

/// Ids rich in the characters that matter, shaped like an attack (`y}:shop`,
/// `A}:affinity:y`: a tag closed early, then a kind), or anything at all.
fn any_id() -> impl Strategy<Value = String> {
    let attack = (
        "[a-c%]{0,2}",
        prop::sample::select(KINDS.to_vec()),
        prop::option::of("[a-c%:}]{0,3}"),
    )
        .prop_map(|(before, kind, after)| match after {
            Some(after) => format!("{before}}}:{kind}:{after}"),
            None => format!("{before}}}:{kind}"),
        });
    prop_oneof![
        "[%{}:a-c7BD]{0,10}",
        any::<String>(),
        "(%|\\{|\\}|:|%7B|%7D|%3A|%25|affinity|shop|x){0,8}",
        attack,
    ]
}

fn any_shop() -> impl Strategy<Value = String> {
    any_id().prop_filter("the edge refuses an empty shop id", |id| !id.is_empty())
}

/// A key of each kind: (kind index, id, session).
fn any_key() -> impl Strategy<Value = (usize, String, u64)> {
    (0..KINDS.len(), any_id(), any::<u64>())
}

fn key_of((kind, id, session): &(usize, String, u64)) -> Key<'_> {
    match KINDS[*kind] {
        "fence" => Key::Fence,
        "shop" => Key::Shop,
        "accounts" => Key::Accounts,
        "presence" => Key::Presence(id),
        "groups" => Key::Groups,
        "sessions" => Key::Sessions,
        "ending" => Key::Ending(*session),
        "affinity" => Key::Affinity(id),
        "affinities" => Key::AffinityIndex,
        "events" => Key::Events,
        _ => Key::Request(id),
    }
}

fn any_namespace() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_name_reads_back_into_the_namespace_shop_kind_and_id_it_was_built_from(
        namespace in any_namespace(), shop in any_shop(), key in any_key(),
    ) {
        let key = key_of(&key);
        let name = ShopKeys::new(&namespace, &shop).name(key).to_string();
        prop_assert_eq!(decode(&name), Some(parts(&namespace, &shop, key)), "{}", name);
    }

    #[test]
    fn two_distinct_shop_kind_id_triples_never_share_a_name(
        shops in (any_shop(), any_shop()), keys in (any_key(), any_key()),
    ) {
        let (first, second) = (key_of(&keys.0), key_of(&keys.1));
        let one = ShopKeys::new("fenliu", &shops.0).name(first).to_string();
        let other = ShopKeys::new("fenliu", &shops.1).name(second).to_string();
        let same = parts("fenliu", &shops.0, first) == parts("fenliu", &shops.1, second);
        prop_assert_eq!(one == other, same, "{} / {}", one, other);
    }

    #[test]
    fn no_other_triple_spelled_out_of_a_name_gives_that_name(
        shop in any_shop(), key in any_key(),
    ) {
        // What an attacker would try: read the name at another `}:` or
        // `:`, and choose those pieces as its ids.
        let key = key_of(&key);
        let name = ShopKeys::new("fenliu", &shop).name(key).to_string();
        let tagged = name.strip_prefix("fenliu:{").expect("the namespace, then the tag");
        for (close, _) in tagged.match_indices("}:") {
            let (other_shop, rest) = (&tagged[..close], &tagged[close + 2..]);
            for (index, kind) in KINDS.iter().enumerate() {
                let id = match rest.strip_prefix(kind) {
                    Some("") => String::new(),
                    Some(id) => match id.strip_prefix(':') {
                        Some(id) => id.to_owned(),
                        None => continue,
                    },
                    None => continue,
                };
                let session = id.parse().unwrap_or(0);
                let spelled = (index, id, session);
                let other = key_of(&spelled);
                if other_shop.is_empty() {
                    continue;
                }
                let other_name = ShopKeys::new("fenliu", other_shop).name(other).to_string();
                if other_name == name {
                    prop_assert_eq!(parts("fenliu", other_shop, other), parts("fenliu", &shop, key));
                }
            }
        }
    }

    #[test]
    fn the_hash_tag_is_the_escaped_shop_id_so_one_slot_per_shop(
        shops in (any_shop(), any_shop()), key in any_key(),
    ) {
        let key = key_of(&key);
        let name = ShopKeys::new("fenliu", &shops.0).name(key).to_string();
        let escaped = Escaped(&shops.0).to_string();
        prop_assert_eq!(hash_tag(&name), escaped.as_str());
        let other = ShopKeys::new("fenliu", &shops.1).name(key).to_string();
        prop_assert_eq!(hash_tag(&name) == hash_tag(&other), shops.0 == shops.1);
    }
}

#[test]
fn a_buyer_cannot_name_the_record_of_another_shop() {
    // The issue's two ids: the affinity of buyer `y}:shop` in shop `A` was
    // the record of shop `A}:affinity:y`.
    let affinity = ShopKeys::new("fenliu", "A").affinity("y}:shop");
    let record = ShopKeys::new("fenliu", "A}:affinity:y").shop();
    assert_eq!(affinity, "fenliu:{A}:affinity:y%7D%3Ashop");
    assert_eq!(record, "fenliu:{A%7D%3Aaffinity%3Ay}:shop");
    assert_ne!(hash_tag(&affinity), hash_tag(&record));
}

#[test]
fn ids_are_escaped_reversibly_and_only_where_they_must_be() {
    assert_eq!(
        Escaped("buyer-7.x_y@z 买家").to_string(),
        "buyer-7.x_y@z 买家"
    );
    assert_eq!(Escaped("%{}:").to_string(), "%25%7B%7D%3A");
    assert_eq!(Escaped("a%7Db").to_string(), "a%257Db");
    assert_eq!(Escaped("").to_string(), "");
}

#[test]
fn no_shop_key_kind_is_a_membership_key_kind() {
    // A shop called `meta` shares the registry's tag; the kinds keep the
    // names apart (see the module's doc).
    for kind in KINDS {
        assert!(
            !fenliu_node::registry::META_KEY_KINDS.contains(&kind),
            "{kind}"
        );
    }
    let keys = ShopKeys::new("fenliu", "meta");
    assert_eq!(keys.shop(), "fenliu:{meta}:shop");
    assert_ne!(keys.affinity("lease:3"), "fenliu:{meta}:lease:3");
}

#[test]
fn every_kind_is_listed_once() {
    let mut seen = std::collections::BTreeSet::new();
    for (index, kind) in KINDS.iter().enumerate() {
        let generated = (index, String::new(), 0);
        let key = key_of(&generated);
        assert_eq!(key.kind(), *kind);
        assert!(seen.insert(key.kind()));
    }
}

#[test]
fn every_key_of_a_shop_shares_its_hash_tag() {
    let keys = ShopKeys::new("fenliu", "shop-7");
    for key in [
        keys.fence(),
        keys.shop(),
        keys.accounts(),
        keys.presence("a"),
        keys.groups(),
        keys.sessions(),
        keys.ending(3),
        keys.affinity("b"),
        keys.affinity_index(),
        keys.request("r"),
    ] {
        assert!(key.starts_with("fenliu:{shop-7}:"), "{key}");
    }
}

#[test]
fn keys_are_named_as_the_layout_says() {
    let keys = ShopKeys::new("ns", "s");
    assert_eq!(keys.fence(), "ns:{s}:fence");
    assert_eq!(keys.shop(), "ns:{s}:shop");
    assert_eq!(keys.accounts(), "ns:{s}:accounts");
    assert_eq!(keys.presence("a1"), "ns:{s}:presence:a1");
    assert_eq!(keys.groups(), "ns:{s}:groups");
    assert_eq!(keys.sessions(), "ns:{s}:sessions");
    assert_eq!(keys.ending(42), "ns:{s}:ending:42");
    assert_eq!(keys.affinity("b"), "ns:{s}:affinity:b");
    assert_eq!(keys.affinity_index(), "ns:{s}:affinities");
    assert_eq!(keys.request("r-1"), "ns:{s}:request:r-1");
}
