//! The two Lua scripts, compiled in from `load.lua` and `commit.lua` beside this
//! file.
//!
//! Each file opens with a comment documenting its script: name and version, every
//! `KEYS[i]` and `ARGV[i]`, the reply. That header is cut off before the script is
//! loaded: Redis names a script by the SHA1 of its text (what `EVALSHA` sends), so
//! a comment's rewording does not make every Redis load the script anew. A change
//! of what a script does takes a new version, in its header.
//!
//! The scripts are built once per process: a prepared commit borrows its script,
//! and outlives the call that prepared it (it is sent by the shop's committer).

use std::sync::LazyLock;

use redis::Script;

/// How long a remembered `Route` answer is kept (R1 retries). Put into `COMMIT`'s
/// text in place of `REQUEST_RETENTION_SECONDS`.
const REQUEST_RETENTION_SECONDS: u64 = 3600;

/// How many events a shop's stream keeps, about (`XADD MAXLEN ~` trims whole
/// nodes of the stream): what a `WatchShop` resuming from a sequence can be
/// replayed. A watcher cut off by a failover (two seconds) misses far fewer; one
/// further behind reads `GetShopState` and watches from its `event_sequence`. Put
/// into `COMMIT`'s text in place of `EVENTS_KEPT`.
pub const EVENTS_KEPT: u64 = 1000;

/// `LOAD` v2 (`load.lua`): raises a shop's fence to the loader's token (refusing
/// if a newer token already touched it) and returns the shop's entities.
pub(super) static LOAD: LazyLock<Script> =
    LazyLock::new(|| Script::new(without_header(include_str!("load.lua"))));

/// `COMMIT` v5 (`commit.lua`): checks the fence, then the request ids of the
/// `Route`s it carries, appends the events, then applies the writes, as the steps
/// of a plan (built by `commit_plan`).
///
/// Gone (a Redis that restarted without its data) is refused rather than leaving a
/// partial shop behind; it is told by the fence key, which the shop's creation
/// sets and nothing deletes (`LOAD` raises only the fence of a shop it found). A
/// creation checks the shop record itself, which is then its first step after any
/// `q`.
///
/// What a commit costs Redis is mostly counted in arguments (each is parsed, then
/// made a Lua string: about a thousand instructions), `redis.call`s (a few
/// thousand each, the command's own work aside) and the reply (a table of strings
/// costs more than a small script's whole run). Hence one byte per step rather
/// than a command name, constants in the script rather than arguments, one call
/// per hash or set, and a bare 1 on success.
pub(super) static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &without_header(include_str!("commit.lua"))
            .replace(
                "REQUEST_RETENTION_SECONDS",
                &REQUEST_RETENTION_SECONDS.to_string(),
            )
            .replace("EVENTS_KEPT", &EVENTS_KEPT.to_string()),
    )
});

/// A script file without its header: the lines it opens with that are Lua
/// comments (`--`). What follows them, from the blank line after the header on,
/// is the script.
fn without_header(file: &str) -> &str {
    let header: usize = file
        .split_inclusive('\n')
        .take_while(|line| line.starts_with("--"))
        .map(str::len)
        .sum();
    &file[header..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_the_comment_lines_a_file_opens_with() {
        assert_eq!(
            without_header("-- X v1\n--\n-- KEYS[1]: -- a key\n\nreturn 1 -- one\n"),
            "\nreturn 1 -- one\n"
        );
        assert_eq!(
            without_header("return 1\n-- the end\n"),
            "return 1\n-- the end\n"
        );
        assert_eq!(without_header("-- nothing but a header"), "");
    }

    #[test]
    fn each_file_opens_with_its_header_and_the_script_follows_it() {
        for (file, title) in [
            (include_str!("load.lua"), "-- LOAD v2:"),
            (include_str!("commit.lua"), "-- COMMIT v5:"),
        ] {
            assert!(file.starts_with(title), "{title}");
            let script = without_header(file);
            assert!(script.starts_with("\nlocal "), "{title}: {script:.20}");
            let header = &file[..file.len() - script.len()];
            assert!(header.contains("-- KEYS[1]") && header.contains("-- ARGV[1]"));
        }
    }
}
