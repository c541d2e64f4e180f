//! Jules API responses: the client must read whatever the (alpha) API sends without
//! panicking, and what it read must survive being written and read again.
//!
//! Input: a JSON document, parsed as each of the five response types. When parsing succeeds,
//! serialising and parsing again gives an equal value, and serialising that gives the same
//! bytes (the client sends values it read back, e.g. in filters).
#![no_main]

use std::fmt::Debug;

use jules_bridge::jules::{Activity, ActivityPage, Session, SessionPage, SourcePage};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fuzz_target!(|data: &[u8]| {
    round_trip::<Session>(data);
    round_trip::<Activity>(data);
    round_trip::<ActivityPage>(data);
    round_trip::<SessionPage>(data);
    round_trip::<SourcePage>(data);
});

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let json = serde_json::to_vec(&value).expect("a parsed value serialises");
    let again: T = serde_json::from_slice(&json).unwrap_or_else(|err| {
        panic!(
            "cannot read back what was written: {err}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(value, again, "round trip changed the value");
    let json_again = serde_json::to_vec(&again).expect("serialises");
    assert_eq!(json, json_again, "serialisation is not stable");
}
