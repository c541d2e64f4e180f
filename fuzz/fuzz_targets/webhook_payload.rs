//! Webhook bodies and signatures: the bytes an anonymous sender on the internet controls.
//!
//! Input: the first byte picks the `X-GitHub-Event` name, the rest is the body. Parsing must
//! never panic (an unknown event or action is an `Ok` with nothing to do, a malformed body an
//! `Err`). The same bytes go through the HMAC check: with a signature taken from the input
//! (never accepted by accident), with the correct signature (always accepted, also in
//! upper-case hex and with surrounding whitespace) and with one wrong hex digit (rejected).
#![no_main]

use hmac::{Hmac, KeyInit, Mac};
use jules_bridge::payload::parse_event;
use jules_bridge::server::webhook::verify_signature;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use sha2::Sha256;

/// Every event the bridge handles or must ignore gracefully (`star` is one it never asked for).
const EVENTS: [&str; 12] = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_target",
    "workflow_run",
    "workflow_dispatch",
    "schedule",
    "push",
    "installation",
    "installation_repositories",
    "ping",
    "star",
];

const SECRET: &str = "s";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let event_name = EVENTS[usize::from(selector) % EVENTS.len()];

    if let Ok(event) = parse_event(event_name, body) {
        // Formatting walks every field of the parsed event.
        let _ = format!("{event:?}");
    }

    let secrets = [SecretString::from(SECRET.to_owned())];

    // A signature made of input bytes: `sha256=` + 64 hex digits can only match the body's
    // real HMAC, which libFuzzer cannot construct, so anything else must be refused.
    let head = String::from_utf8_lossy(&body[..body.len().min(80)]);
    let correct = expected_signature(body);
    let from_input = verify_signature(&secrets, body, Some(&head));
    let matches_correct = head
        .trim()
        .strip_prefix("sha256=")
        .is_some_and(|digest| digest.eq_ignore_ascii_case(&correct["sha256=".len()..]));
    assert_eq!(from_input, matches_correct, "signature {head:?}");

    assert!(verify_signature(&secrets, body, Some(&correct)));
    assert!(verify_signature(&secrets, body, Some(&format!(" {correct}\n"))));
    let upper = format!("sha256={}", correct["sha256=".len()..].to_ascii_uppercase());
    assert!(verify_signature(&secrets, body, Some(&upper)));
    assert!(!verify_signature(&secrets, body, None));
    let other_secret = [SecretString::from("t".to_owned())];
    assert!(!verify_signature(&other_secret, body, Some(&correct)));

    // Flip one hex digit chosen by the input.
    let mut wrong = correct.clone().into_bytes();
    let position = "sha256=".len() + usize::from(selector) % 64;
    wrong[position] = if wrong[position] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex is ASCII");
    assert!(!verify_signature(&secrets, body, Some(&wrong)));
});

fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
